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
#      parent daemon, `litecoind`, does not exist here) and that it runs as a non-root user,
#   5. restarts it (SIGTERM: it must stop well within the grace period), then replaces it with
#      a new container on the same volumes, and each time finds the same node key (peer id)
#      and the same share store in the data volume.
#
# Needs root, podman and debootstrap (apt-get install podman debootstrap). Without podman it
# fails unless OTEDAMA_SKIP_CONTAINER_TESTS=1 (never under CI).
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
# CAP_SYS_RESOURCE, crun cannot raise it: ask for what the host allows.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
ULIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=32768:32768)

# ---- the image ----
base=$(scripts/container-base.sh)
binary=${OTEDAMA_BINARY:-${CARGO_TARGET_DIR:-target}/debug/otedama-node}
if [ -z "${OTEDAMA_BINARY:-}" ]; then
  cargo build --locked -p otedama-node --quiet
fi
[ -x "$binary" ] || fail "no node binary at $binary"
mkdir -p dist/docker
if command -v strip >/dev/null 2>&1; then
  strip -o dist/docker/otedama-node.tmp "$binary"
else
  cp "$binary" dist/docker/otedama-node.tmp
fi
mv dist/docker/otedama-node.tmp dist/docker/otedama-node
IMAGE=localhost/otedama:test
t0=$(date +%s)
podman build --quiet --pull=never --format docker --build-arg "BASE_IMAGE=$base" --target production-prebuilt \
  -f Dockerfile.production -t "$IMAGE" . >/dev/null
log "image built in $(($(date +%s) - t0)) s"
[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] ||
  fail "the image does not run as uid 10001"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q healthcheck ||
  fail "the image has no HEALTHCHECK (built without --format docker?)"

# ---- run it ----
tag="otedama-test-$$"
NAME=$tag
CONFIG_VOL="$tag-config"
DATA_VOL="$tag-data"
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -s "${PODMAN_LOG:-}" ]; then
    log "podman said:"
    tail -n 20 "$PODMAN_LOG" >&2
  fi
  podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  podman volume rm -f "$CONFIG_VOL" "$DATA_VOL" >/dev/null 2>&1 || true
  rm -f "${PODMAN_LOG:-}"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# podman's messages (e.g. that, without systemd, it cannot arm the health check timer, which
# is why this test runs `podman healthcheck run` itself) go here, shown on failure.
PODMAN_LOG=$(mktemp)
pm() { podman "$@" 2>>"$PODMAN_LOG"; }

# The README's line, with the ports published on loopback only (fresh ones for each new
# container: the last one's may not be released yet) and the test's names.
start() {
  API_PORT=$(free_port)
  HEALTH_PORT=$(free_port)
  METRICS_PORT=$(free_port)
  pm run -d --name "$NAME" "${ULIMITS[@]}" \
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

pm rm -f -t 10 "$NAME" >/dev/null
start
[ "$(check_running)" = "$peer" ] || fail "a new container on the same volumes has another peer id"
log "new container on the same volumes: same peer id and share store"
log "ok in $(($(date +%s) - t_start)) s (run and checks $(($(date +%s) - t0)) s)"
