#!/usr/bin/env bash
# Builds the production container image and runs it for real with podman:
#
#   1. makes the base image from Debian's packages (scripts/container-base.sh; cached),
#   2. builds Dockerfile.production's production-prebuilt stage (this tree's node binary, so no
#      registry or Rust image is needed) on the local base image (BASE_IMAGE),
#   3. starts it with the README's `docker run` line (ports on loopback here), its shipped
#      config and two named volumes,
#   4. waits until `podman healthcheck run` reports it healthy, reads /api/status through the
#      published API port, and checks /readyz reports why it is not ready (the config's
#      parent daemon, `litecoind`, does not exist here), that it runs as a non-root user and
#      that it writes its log file (/app/logs/otedama.log),
#   5. restarts it (SIGTERM: it must stop well within the grace period), then replaces it with
#      a new container on the same volumes, and each time finds the same node key (peer id)
#      and the same share store in the data volume;
#   6. with a parent daemon: runs the image in a pod whose network namespace (loopback only)
#      also holds a litecoind regtest pair, with the shipped config changed only where a
#      regtest chain needs it (chain, daemon, payout address, one mining thread); checks the
#      node becomes ready (/readyz 200) and its built-in miner fills the sharechain, then
#      replaces the container and finds the new one opening the same shares from the volume.
#
# Needs root, podman, debootstrap and curl (apt-get install podman debootstrap curl), and
# litecoind for step 6. Without podman it fails unless OTEDAMA_SKIP_CONTAINER_TESTS=1, and
# without litecoind unless OTEDAMA_SKIP_DAEMON_TESTS=1 (neither is honoured under CI).
#
# usage: scripts/container-test.sh    (OTEDAMA_BINARY=PATH picks the node binary; default:
#                                      the debug build, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

is_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }
log() { echo "container-test: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

if ! command -v podman >/dev/null 2>&1; then
  if [ "${OTEDAMA_SKIP_CONTAINER_TESTS:-}" = 1 ] && ! is_ci; then
    log "skipped: no podman (OTEDAMA_SKIP_CONTAINER_TESTS=1)"
    exit 0
  fi
  fail "needs podman: apt-get install podman debootstrap (or OTEDAMA_SKIP_CONTAINER_TESTS=1 outside CI)"
fi
if [ "$(id -u)" != 0 ]; then
  # Rootful podman and debootstrap: rerun under sudo where it needs no password.
  if sudo -n true 2>/dev/null; then exec sudo -E --preserve-env=PATH "$0" "$@"; fi
  fail "needs root (rootful podman, debootstrap), or sudo without a password"
fi
t_start=$(date +%s)

# crun refuses to run when cgroup v1 and v2 are mixed and the hugetlb controller is not
# mounted ("cgroups in hybrid mode not supported"); mounting it once per boot is enough.
if [ -d /sys/fs/cgroup/cpu ] && ! [ -f /sys/fs/cgroup/cgroup.controllers ] &&
  ! mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null; then
  log "mounting the hugetlb cgroup controller (hybrid cgroup hierarchy)"
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
# Where the open-file limit is capped below the container default and root lacks
# CAP_SYS_RESOURCE, crun cannot raise it: ask for what the host allows, for every container
# of this test (pods' infra containers included) through a containers.conf of its own.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
WORK=$(mktemp -d)
IMAGE=localhost/otedama:test
tag="otedama-test-$$"
NAME=$tag
CONFIG_VOL="$tag-config"
DATA_VOL="$tag-data"
POD="$tag-pod"
DAEMON_PIDS=()
placed_binary=0
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -s "${PODMAN_LOG:-}" ]; then
    log "podman said:"
    tail -n 20 "$PODMAN_LOG" >&2
  fi
  podman rm -f -v -t 0 "$NAME" >/dev/null 2>&1 || true
  local pid
  for pid in "${DAEMON_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${DAEMON_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  podman pod rm -f "$POD" >/dev/null 2>&1 || true
  podman volume rm -f "$CONFIG_VOL" "$DATA_VOL" >/dev/null 2>&1 || true
  # The image and its layers go too: each build of a new binary would leave the last one's.
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  if [ "$placed_binary" = 1 ]; then
    rm -f dist/docker/otedama-node
    if [ -e "$WORK/kept-otedama-node" ]; then mv "$WORK/kept-otedama-node" dist/docker/otedama-node; fi
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# podman's messages (e.g. that, without systemd, it cannot arm the health check timer, which
# is why this test runs `podman healthcheck run` itself) go here, shown on failure.
PODMAN_LOG="$WORK/podman.log"
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n' "$nofile" "$nofile" \
  >"$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"

LITECOIND=${LITECOIND:-}
if [ -z "$LITECOIND" ]; then
  for v in /usr/lib/litecoin/litecoind /usr/local/bin/litecoind; do
    if [ -x "$v" ]; then LITECOIND=$v; break; fi
  done
fi
with_daemon=1
if [ -z "$LITECOIND" ]; then
  if [ "${OTEDAMA_SKIP_DAEMON_TESTS:-}" = 1 ] && ! is_ci; then
    with_daemon=0
    log "the run with a parent daemon is skipped: no litecoind (OTEDAMA_SKIP_DAEMON_TESTS=1)"
  else
    fail "needs litecoind for the run with a parent daemon: apt-get install litecoind (or set LITECOIND)"
  fi
fi
LITECOIN_CLI=${LITECOIN_CLI:-$(command -v litecoin-cli || echo "$(dirname "${LITECOIND:-/usr/bin/x}")/litecoin-cli")}

# ---- the image ----
base=$(scripts/container-base.sh)
binary=${OTEDAMA_BINARY:-${CARGO_TARGET_DIR:-target}/debug/otedama-node}
if [ -z "${OTEDAMA_BINARY:-}" ]; then
  cargo build --locked -p otedama-node --quiet
fi
[ -x "$binary" ] || fail "no node binary at $binary"
mkdir -p dist/docker
# The image takes the binary from dist/docker/otedama-node; one put there before is kept
# aside and put back afterwards.
placed_binary=1
if [ -e dist/docker/otedama-node ]; then mv dist/docker/otedama-node "$WORK/kept-otedama-node"; fi
if command -v strip >/dev/null 2>&1; then
  strip -o dist/docker/otedama-node.tmp "$binary"
else
  cp "$binary" dist/docker/otedama-node.tmp
fi
mv dist/docker/otedama-node.tmp dist/docker/otedama-node
t0=$(date +%s)
podman build --quiet --pull=never --format docker --build-arg "BASE_IMAGE=$base" --target production-prebuilt \
  -f Dockerfile.production -t "$IMAGE" . >/dev/null
log "image built in $(($(date +%s) - t0)) s"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] ||
  fail "the image does not run as uid 10001"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q healthcheck ||
  fail "the image has no HEALTHCHECK (built without --format docker?)"

# ---- run it ----

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pm() { podman "$@" 2>>"$PODMAN_LOG"; }

# The README's line, with the ports published on loopback only (fresh ones for each new
# container: the last one's may not be released yet), the test's names, and name lookups
# kept inside the container (the config's daemon host, `litecoind`, must not be asked of the
# host's resolver).
start() {
  API_PORT=$(free_port)
  HEALTH_PORT=$(free_port)
  METRICS_PORT=$(free_port)
  pm run -d --name "$NAME" --dns 127.0.0.1 \
    -p "127.0.0.1:$API_PORT:8080" -p "127.0.0.1:$HEALTH_PORT:8081" -p "127.0.0.1:$METRICS_PORT:9090" \
    -v "$CONFIG_VOL:/app/config" -v "$DATA_VOL:/app/data" "$IMAGE" >/dev/null
}

wait_healthy() {
  local i
  for i in $(seq 1 60); do
    if podman healthcheck run "$NAME" >/dev/null 2>>"$PODMAN_LOG"; then
      log "healthy after $i check(s)"
      return 0
    fi
    [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] || {
      podman logs "$NAME" 2>&1 | tail -n 20 >&2
      fail "the container exited"
    }
    sleep 0.5
  done
  podman logs "$NAME" 2>&1 | tail -n 20 >&2
  fail "not healthy after 30 s"
}

json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

status() { curl -fsS --max-time 5 "http://127.0.0.1:$API_PORT/api/status"; }

check_running() {
  local s
  wait_healthy
  s=$(status) || fail "GET /api/status failed"
  [ "$(json 'd["chain"]' <<<"$s")" = ltc-main ] || fail "/api/status: unexpected chain: $s"
  [ "$(json 'd["parent"]["reachable"]' <<<"$s")" = False ] || fail "/api/status: parent reachable? $s"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HEALTH_PORT/readyz")
  [ "$code" = 503 ] || fail "/readyz answered $code without a parent daemon"
  local metrics
  metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics") || fail "GET /metrics failed"
  grep -q '^otedama_uptime_seconds ' <<<"$metrics" || fail "/metrics lacks otedama_uptime_seconds"
  [ "$(podman exec "$NAME" id -u)" = 10001 ] || fail "the node runs as root"
  podman exec "$NAME" test -f /app/data/ltc-main/shares/db || fail "no share store in the data volume"
  # Production mode (app.mode) writes the log file under the working directory.
  podman exec "$NAME" grep -q 'share store opened' /app/logs/otedama.log ||
    fail "no log file at /app/logs/otedama.log, or it does not show the node starting"
  json 'd["p2p"]["peer_id"]' <<<"$s"
}

t0=$(date +%s)
start
peer=$(check_running)
[ -n "$peer" ] || fail "no peer id in /api/status"
log "running: peer id $peer; /api/status, /readyz (503, no parent daemon), /metrics answer"

t1=$(date +%s%N)
pm stop -t 10 "$NAME" >/dev/null
stop_ms=$((($(date +%s%N) - t1) / 1000000))
[ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "exit code $(podman inspect --format '{{.State.ExitCode}}' "$NAME") after SIGTERM"
[ "$stop_ms" -lt 8000 ] || fail "stopping took $stop_ms ms: SIGTERM ignored?"
log "stopped by SIGTERM in $stop_ms ms, exit code 0"
pm start "$NAME" >/dev/null
[ "$(check_running)" = "$peer" ] || fail "the peer id changed across a restart"
log "restarted: same peer id and share store"

pm rm -f -v -t 10 "$NAME" >/dev/null
start
[ "$(check_running)" = "$peer" ] || fail "a new container on the same volumes has another peer id"
log "new container on the same volumes: same peer id and share store"
t_phase1=$(($(date +%s) - t0))
pm rm -f -v -t 10 "$NAME" >/dev/null
pm volume rm -f "$DATA_VOL" >/dev/null

# ---- with a parent daemon ----
if [ "$with_daemon" = 1 ]; then
  t0=$(date +%s)
  API_PORT=$(free_port)
  HEALTH_PORT=$(free_port)
  METRICS_PORT=$(free_port)
  # The pod's infra container holds the network namespace that the node's containers and the
  # daemons share; only the node's ports are published, on loopback.
  pm pod create --name "$POD" --dns 127.0.0.1 -p "127.0.0.1:$API_PORT:8080" -p "127.0.0.1:$HEALTH_PORT:8081" \
    -p "127.0.0.1:$METRICS_PORT:9090" >/dev/null
  pm pod start "$POD" >/dev/null
  netns_pid=$(podman inspect --format '{{.State.Pid}}' "$(podman pod inspect --format '{{.InfraContainerID}}' "$POD")")
  [ "$netns_pid" -gt 0 ] 2>/dev/null || fail "no network namespace for the pod"
  # A litecoind pair on regtest (litecoind 0.21 serves getblocktemplate only with a peer),
  # MWEB active from the start as on the devnet; RPC with a test-only password.
  RPC_PASSWORD="regtest-$$"
  common=(-regtest -server=1 -printtoconsole=0 -discover=0 -dnsseed=0 -upnp=0 -listenonion=0
    -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 -fallbackfee=0.0001 -vbparams=mweb:-2:0)
  mkdir -p "$WORK/ltc-a" "$WORK/ltc-b"
  # nsenter execs the daemon, so $! is the daemon's pid.
  nsenter -t "$netns_pid" -n "$LITECOIND" "${common[@]}" -datadir="$WORK/ltc-b" -listen=1 -bind=127.0.0.1:19501 \
    -bind=127.0.0.1:19503=onion -rpcport=19502 -disablewallet >"$WORK/ltc-b.log" 2>&1 &
  DAEMON_PIDS+=($!)
  nsenter -t "$netns_pid" -n "$LITECOIND" "${common[@]}" -datadir="$WORK/ltc-a" -listen=0 -connect=127.0.0.1:19501 \
    -rpcport=19500 -rpcuser=otedama -rpcpassword="$RPC_PASSWORD" >"$WORK/ltc-a.log" 2>&1 &
  DAEMON_PIDS+=($!)
  cli() { nsenter -t "$netns_pid" -n "$LITECOIN_CLI" -regtest -rpcport=19500 -rpcuser=otedama -rpcpassword="$RPC_PASSWORD" "$@"; }
  for _ in $(seq 1 300); do cli getblockcount >/dev/null 2>&1 && break; sleep 0.1; done
  for _ in $(seq 1 300); do [ "$(cli getconnectioncount 2>/dev/null || echo 0)" -ge 1 ] && break; sleep 0.1; done
  [ "$(cli getconnectioncount)" -ge 1 ] || fail "the litecoind pair did not connect"
  # One block takes the chain out of initial block download.
  cli generatetodescriptor 1 'raw(51)' >/dev/null

  # The shipped config, changed only where a regtest chain needs it.
  sed -e 's/- spec: ltc-main/- spec: ltc-regtest/' \
    -e 's#url: http://litecoind:9332#url: http://127.0.0.1:19500#' \
    -e "s#cookie_file: /litecoin/.cookie#user: otedama\\n        password: $RPC_PASSWORD#" \
    -e 's/payout_address: ""/payout_address: "mwopeMg7P6Kzkss6LMqwHq46uW7vazrcZA"/' \
    -e 's/threads: 0/threads: 1/' scripts/docker/config.yaml >"$WORK/regtest.yaml"
  chmod 0644 "$WORK/regtest.yaml"
  if ! grep -q 'spec: ltc-regtest' "$WORK/regtest.yaml" || ! grep -q "password: $RPC_PASSWORD" "$WORK/regtest.yaml"; then
    fail "scripts/docker/config.yaml no longer has the lines this test changes"
  fi
  start_in_pod() {
    pm run -d --name "$NAME" --pod "$POD" -v "$WORK/regtest.yaml:/app/config/config.yaml:ro" \
      -v "$DATA_VOL:/app/data" "$IMAGE" >/dev/null
  }
  shares() { status | json 'd["sharechain"]["shares"]'; }

  start_in_pod
  wait_healthy
  for i in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$HEALTH_PORT/readyz" || true)
    [ "$code" = 200 ] && break
    sleep 0.5
  done
  [ "$code" = 200 ] || fail "/readyz answered $code with a parent daemon, after 60 s"
  log "ready with the parent daemon after $i check(s)"
  want=20
  for _ in $(seq 1 240); do
    n=$(shares 2>/dev/null || echo 0)
    [ "$n" -ge "$want" ] && break
    sleep 0.5
  done
  [ "$n" -ge "$want" ] || fail "only $n shares after 120 s of mining"
  [ "$(cli getblockcount)" -gt 1 ] || fail "the node's shares found no parent block"
  log "$n shares mined, $(($(cli getblockcount) - 1)) parent blocks found"

  pm rm -f -v -t 10 "$NAME" >/dev/null
  start_in_pod
  wait_healthy
  # The log line, in text (shares=N) or JSON ("shares":N) format.
  opened=$(podman logs "$NAME" 2>&1 | grep 'share store opened' | head -n 1 |
    sed -n -E 's/.*[^a-z_]shares"?[=:]"?([0-9]+).*/\1/p')
  if [ -z "$opened" ] || [ "$opened" -lt "$want" ]; then
    fail "the new container opened ${opened:-no} shares from the volume, expected at least $want"
  fi
  log "new container on the same data volume opened $opened shares"
  log "with a parent daemon: $(($(date +%s) - t0)) s"
fi
log "ok in $(($(date +%s) - t_start)) s (without a daemon $t_phase1 s)"
