#!/usr/bin/env bash
# RandomX side by side: `otedama-node bench --algo randomx` (Otedama's compiled VM, and
# with LIBRARY=1 also the library's VM, `--randomx-vm library`) and xmrig's offline
# benchmark, one hashing thread and all threads, with 2 MiB huge pages and without, in one
# run on one machine. Not part of CI (20-40 minutes on 2 cores, and it needs root for
# huge pages).
#
#   scripts/bench-randomx-xmrig.sh XMRIG_SOURCE_DIR [OTEDAMA_NODE_BINARY]
#
# PAGES (default "hugetlb thp") picks the page setups: reserved 2 MiB pages
# (`vm.nr_hugepages`, root), or transparent huge pages only.
# ROUNDS (default 1) repeats each setup, the programs alternating which goes first, so
# that a machine whose speed drifts from one minute to the next (a shared host) favours
# neither; HASH_SECONDS (default 60, a multiple of 10) is each program's hashing time. Every
# run is a row; a summary of the means per program follows the rows.
#
# XMRIG_SOURCE_DIR is a checkout of https://github.com/xmrig/xmrig. It is copied and built
# outside this repository (in $XMRIG_BUILD, default ${TMPDIR:-/tmp}/otedama-xmrig), with
# the donation level set to 0 in the copy and without TLS, HTTP, hwloc, the MSR mod and the
# algorithms other than RandomX. xmrig runs `--bench=250K` (no pool, no network) and is
# stopped once it has hashed for HASH_SECONDS after its first report: its figure is the mean of
# the 10 s figures of its "speed" lines after the first (disjoint 10 s windows, printed
# every 10 s), with "dataset ready". Otedama's are from `--json` with `--seconds HASH_SECONDS`.
# The node binary defaults to target/release/otedama-node (`cargo build --release -p
# otedama-node`). Results go to stdout as a Markdown table.
#
# PAIRS=N runs the programs at the same time instead, one hashing thread each, pinned to
# CPUs 0 and 1 (`taskset`), N times each way round per page setup: a drift of the host
# then reaches both, which runs one after the other cannot resolve below a few per cent.
# Each program goes first once a round (the other builds its dataset on its own CPU,
# `--init-threads 1` for Otedama, while the first hashes: which goes first moved results
# by a few per cent), and each runs on each CPU every two rounds. Both are compared over
# one window, HASH_SECONDS from 10 s after the second started hashing: xmrig's figure is
# the mean of its 10 s reports inside it, Otedama's is from its counts (`--report-seconds
# 5`) at the first and last report inside it.
# Reserved pages for both datasets: 2 400 pages of 2 MiB.
set -euo pipefail

src=${1:?usage: $0 XMRIG_SOURCE_DIR [OTEDAMA_NODE_BINARY]}
node=${2:-$(dirname "$0")/../target/release/otedama-node}
build=${XMRIG_BUILD:-${TMPDIR:-/tmp}/otedama-xmrig}
seconds=${HASH_SECONDS:-60}
rounds=${ROUNDS:-1}
threads_all=$(nproc)

[ -x "$node" ] || { echo "no node binary at $node (cargo build --release -p otedama-node)" >&2; exit 2; }

# Without TLS the binary is called xmrig-notls.
xmrig=$build/build/xmrig-notls
if [ ! -x "$xmrig" ]; then
  rm -rf "$build" && mkdir -p "$build"
  cp -a "$src/." "$build/"
  sed -i 's/kDefaultDonateLevel = 1;/kDefaultDonateLevel = 0;/; s/kMinimumDonateLevel = 1;/kMinimumDonateLevel = 0;/' \
    "$build/src/donate.h"
  mkdir -p "$build/build"
  (cd "$build/build" && cmake .. -DCMAKE_BUILD_TYPE=Release -DWITH_HWLOC=OFF -DWITH_TLS=OFF \
    -DWITH_HTTP=OFF -DWITH_OPENCL=OFF -DWITH_CUDA=OFF -DWITH_CN_LITE=OFF -DWITH_CN_HEAVY=OFF \
    -DWITH_CN_PICO=OFF -DWITH_CN_FEMTO=OFF -DWITH_ARGON2=OFF -DWITH_KAWPOW=OFF \
    -DWITH_GHOSTRIDER=OFF -DWITH_MSR=OFF -DWITH_DMI=OFF >/dev/null && make -j"$threads_all" >/dev/null)
fi
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "unknown")

# Starts xmrig's benchmark in the background ($! is its process) on $1 threads with huge
# pages $2 (on|off), logging to $3; with a CPU $4, pinned there, dataset included.
start_xmrig() {
  local pages=() pin=() init=()
  [ "$2" = off ] && pages=(--no-huge-pages)
  [ -n "${4:-}" ] && pin=(taskset -c "$4") init=(--randomx-init=1)
  # xmrig's console output to a file is lost when it is stopped: it writes its own log,
  # stamped in local time, so it runs in UTC for the readers below.
  TZ=UTC "${pin[@]}" "$xmrig" --bench=250K --threads="$1" "${pages[@]}" "${init[@]}" \
    --print-time=10 --no-color --donate-level=0 --log-file="$3" >/dev/null 2>&1 &
}

# Runs xmrig's benchmark on $1 threads with huge pages $2 (on|off) until it has printed
# $seconds / 10 speed lines after its first; prints "dataset_ms hashrate".
run_xmrig() {
  local log
  log=$(mktemp)
  start_xmrig "$1" "$2" "$log"
  local pid=$!
  local waited=0 want=$((seconds / 10 + 1))
  # Dataset, then the reports; at most 5 minutes past the hashing time.
  while [ "$waited" -lt $((300 + seconds)) ] && kill -0 "$pid" 2>/dev/null; do
    sleep 2
    waited=$((waited + 2))
    if [ "$(grep -cE 'speed 10s/60s/15m [0-9.]+ ' "$log")" -ge "$want" ]; then
      break
    fi
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local dataset rate
  dataset=$(grep -oE 'dataset ready \(([0-9]+) ms\)' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  rate=$(grep -oE 'speed 10s/60s/15m [0-9.]+ ' "$log" | awk -v want="$want" '
    { n++; if (n > 1 && n <= want) { sum += $3; k++ } }
    END { if (k == want - 1) printf "%.1f", sum / k }' || true)
  if [ -z "$rate" ]; then
    echo "xmrig gave fewer than $want speed lines; its output:" >&2
    cat "$log" >&2
  fi
  echo "${dataset:-?} ${rate:-?}"
  rm -f "$log"
}

# Runs Otedama's bench on $1 threads with huge pages $2 (auto|thp) and VM $3
# (auto|library). Prints "dataset_ms hashrate pages_in_effect vm".
run_otedama() {
  "$node" bench --algo randomx --randomx-mode fast --threads "$1" \
    --huge-pages "$2" --randomx-vm "$3" --seconds "$seconds" --json 2>/dev/null |
    python3 -c 'import json, sys
r = json.loads(sys.stdin.read().splitlines()[-1])
print(round(r["dataset_init_seconds"] * 1000), round(r["hashes_per_second"], 1), r["pages"], r["vm"])'
}

# Starts Otedama's bench in the background ($! is its process) on one thread pinned to
# CPU $1, with huge pages $2 (auto|thp), building the dataset there alone and writing its
# count every 5 s to $3; it hashes long past any window: the caller stops it.
start_otedama() {
  taskset -c "$1" "$node" bench --algo randomx --randomx-mode fast --threads 1 --init-threads 1 \
    --huge-pages "$2" --seconds $((seconds + 600)) --report-seconds 5 --json >"$3" 2>/dev/null &
}

# Appends "setup<TAB>threads<TAB>program<TAB>hashrate" to $summary.
record() {
  printf '%s\t%s\t%s\t%s\n' "$@" >>"$summary"
}

set_hugepages() {
  sysctl -qw vm.nr_hugepages="$1"
}

# Python that the readers below start with: `xmrig_line(line, pattern)` matches one line of
# xmrig's log against "[date time]" then `pattern`, and returns the line's time (seconds
# since the epoch; xmrig runs in UTC) and the match, or (None, None).
xmrig_line_py='import datetime, json, re, sys
def xmrig_line(line, pattern):
    m = re.match(r"\[(\S+ \S+)\]" + pattern, line)
    if not m:
        return None, None
    t = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp(), m
'

# The time (seconds since the epoch) program $1 (xmrig|otedama) started hashing, from its
# output $2, or nothing yet: xmrig's "dataset ready" line, Otedama's first count.
hashing_since() {
  python3 -c "$xmrig_line_py"'
for line in open(sys.argv[2], errors="replace"):
    if sys.argv[1] == "xmrig":
        t, _ = xmrig_line(line, r".*dataset ready")
        if t is not None:
            print(t)
            break
    elif "unix_seconds" in line:
        r = json.loads(line)
        print(r["unix_seconds"] - r["elapsed_seconds"])
        break' "$1" "$2"
}

# Waits (at most 300 s) until program $1 hashes, per its output $2; prints the time.
wait_hashing() {
  local t="" waited=0
  while [ -z "$t" ] && [ "$waited" -lt 300 ]; do
    sleep 1
    waited=$((waited + 1))
    t=$(hashing_since "$1" "$2")
  done
  echo "${t:-?}"
}

# Runs one pair at the same time: Otedama on CPU $1, xmrig on CPU $2, one hashing thread
# each, pages setup $3, program $4 (xmrig|otedama) first; prints its rows and records them.
run_pair() {
  local x_log o_out x_pid o_pid since window_end
  x_log=$(mktemp) o_out=$(mktemp)
  if [ "$4" = xmrig ]; then
    start_xmrig 1 "$xmrig_pages" "$x_log" "$2"
    x_pid=$!
    wait_hashing xmrig "$x_log" >/dev/null
    start_otedama "$1" "$otedama_pages" "$o_out"
    o_pid=$!
    since=$(wait_hashing otedama "$o_out")
  else
    start_otedama "$1" "$otedama_pages" "$o_out"
    o_pid=$!
    wait_hashing otedama "$o_out" >/dev/null
    start_xmrig 1 "$xmrig_pages" "$x_log" "$2"
    x_pid=$!
    since=$(wait_hashing xmrig "$x_log")
  fi
  # The window: from 10 s after the second program started hashing, for $seconds.
  window_end=$(python3 -c "print(int($since + 10 + $seconds + 11))" 2>/dev/null || echo 0)
  while [ "$(date +%s)" -le "$window_end" ]; do sleep 2; done
  kill -INT "$x_pid" 2>/dev/null || true
  kill "$o_pid" 2>/dev/null || true
  wait "$x_pid" "$o_pid" 2>/dev/null || true
  local rates
  # xmrig: the mean of its 10 s reports inside the window. Otedama: its counts at the
  # first and last report inside the window.
  rates=$(python3 -c "$xmrig_line_py"'
start = float(sys.argv[1]) + 10
end = start + float(sys.argv[2])
x = []
for line in open(sys.argv[3], errors="replace"):
    t, m = xmrig_line(line, r".*speed 10s/60s/15m ([0-9.]+) ")
    if t is not None and start + 10 <= t <= end:
        x.append(float(m[2]))
o = []
for line in open(sys.argv[4], errors="replace"):
    if "unix_seconds" in line:
        r = json.loads(line)
        if start <= r["unix_seconds"] <= end:
            o.append((r["unix_seconds"], r["hashes"]))
o_rate = f"{(o[-1][1] - o[0][1]) / (o[-1][0] - o[0][0]):.1f}" if len(o) > 1 else "?"
x_rate = f"{sum(x) / len(x):.1f}" if x else "?"
print(o_rate, x_rate)' "$since" "$seconds" "$x_log" "$o_out" 2>/dev/null || echo "? ?")
  local o_rate x_rate used
  read -r o_rate x_rate <<<"$rates"
  used=$(grep -o '"pages":"[a-z0-9]*"' "$o_out" | head -1 | cut -d'"' -f4 || true)
  rm -f "$x_log" "$o_out"
  echo "| $3 | 1 (CPU $1) | $round, $4 first | otedama-node | - | $o_rate | ${used:-?} |"
  echo "| $3 | 1 (CPU $2) | $round, $4 first | xmrig $commit, at the same time | - | $x_rate | $xmrig_pages |"
  record "$3" 1 "otedama-node (compiled VM)" "$o_rate"
  record "$3" 1 "xmrig $commit" "$x_rate"
}

programs=(compiled)
[ "${LIBRARY:-0}" = 1 ] && programs+=(library)
programs+=(xmrig)

# Runs program $1 on $2 threads in page setup $3 (round $round); prints its row and
# records it.
run_row() {
  local ms rate used vm name
  if [ "$1" = xmrig ]; then
    read -r ms rate < <(run_xmrig "$2" "$xmrig_pages")
    name="xmrig $commit" used=$xmrig_pages
  else
    read -r ms rate used vm < <(run_otedama "$2" "$otedama_pages" "$([ "$1" = compiled ] && echo auto || echo library)")
    name="otedama-node ($vm VM)"
  fi
  echo "| $3 | $2 | $round | $name | ${ms} ms | $rate | $used |"
  record "$3" "$2" "$name" "$rate"
}

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
echo "| pages | threads | round | program | dataset ready | H/s | pages in effect |"
echo "|---|---|---|---|---|---|---|"
for pages in ${PAGES:-hugetlb thp}; do
  if [ "$pages" = hugetlb ]; then
    # 2 GiB dataset, 256 MiB cache and scratchpads: 1 200 pages of 2 MiB (twice that
    # for two programs at once).
    set_hugepages "$([ -n "${PAIRS:-}" ] && echo 2400 || echo 1200)" ||
      { echo "cannot reserve huge pages (root needed); skipping them" >&2; continue; }
    xmrig_pages=on otedama_pages=auto
  else
    # No reserved pages: xmrig's --no-huge-pages still asks for transparent huge pages
    # (madvise), as Otedama's thp mode does.
    set_hugepages 0 || true
    xmrig_pages=off otedama_pages=thp
  fi
  if [ -n "${PAIRS:-}" ]; then
    # Each program goes first once a round, and each runs on each CPU every two rounds.
    for round in $(seq 1 "$PAIRS"); do
      if [ $((round % 2)) = 1 ]; then
        run_pair 0 1 "$pages" xmrig
        run_pair 1 0 "$pages" otedama
      else
        run_pair 1 0 "$pages" xmrig
        run_pair 0 1 "$pages" otedama
      fi
    done
    continue
  fi
  for threads in 1 "$threads_all"; do
    for round in $(seq 1 "$rounds"); do
      # Odd rounds in the listed order, even rounds reversed.
      order=("${programs[@]}")
      if [ $((round % 2)) = 0 ]; then
        order=()
        for ((i = ${#programs[@]} - 1; i >= 0; i--)); do order+=("${programs[i]}"); done
      fi
      for program in "${order[@]}"; do
        run_row "$program" "$threads" "$pages"
      done
    done
  done
done
set_hugepages 0 || true

echo
echo "| pages | threads | program | runs | mean H/s |"
echo "|---|---|---|---|---|"
awk -F'\t' '{ key = $1 FS $2 FS $3; if (!(key in n)) { keys[++k] = key; n[key] = 0 }
                 if ($4 != "?") { sum[key] += $4; n[key]++ } }
  END { for (i = 1; i <= k; i++) { split(keys[i], f, FS); c = n[keys[i]]
          printf "| %s | %s | %s | %d | %s |\n", f[1], f[2], f[3], c, c ? sprintf("%.1f", sum[keys[i]] / c) : "?" } }' "$summary"
