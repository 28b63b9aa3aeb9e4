#!/usr/bin/env bash
# RandomX side by side: `otedama-node bench --algo randomx` (Otedama's compiled VM, then
# the library's VM with `--randomx-vm library`) and xmrig's offline benchmark, one hashing
# thread and all threads, with 2 MiB huge pages and without, in one run on one machine.
# Not part of CI (about 20 minutes on 2 cores, and it needs root for huge pages).
#
#   scripts/bench-randomx-xmrig.sh XMRIG_SOURCE_DIR [OTEDAMA_NODE_BINARY]
#
# PAGES (default "hugetlb thp") picks the page setups: reserved 2 MiB pages
# (`vm.nr_hugepages`, root), or transparent huge pages only.
#
# XMRIG_SOURCE_DIR is a checkout of https://github.com/xmrig/xmrig. It is copied and built
# outside this repository (in $XMRIG_BUILD, default ${TMPDIR:-/tmp}/otedama-xmrig), with
# the donation level set to 0 in the copy and without TLS, HTTP, hwloc, the MSR mod and the
# algorithms other than RandomX. xmrig runs `--bench=250K` (no pool, no network) and is
# stopped after its 60-second average is out; its figures are the last "speed" line's 60 s
# average and "dataset ready". Otedama's are from `--json` with `--seconds 60`.
# The node binary defaults to target/release/otedama-node (`cargo build --release -p
# otedama-node`). Results go to stdout as a Markdown table.
set -euo pipefail

src=${1:?usage: $0 XMRIG_SOURCE_DIR [OTEDAMA_NODE_BINARY]}
node=${2:-$(dirname "$0")/../target/release/otedama-node}
build=${XMRIG_BUILD:-${TMPDIR:-/tmp}/otedama-xmrig}
seconds=60
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

# Runs xmrig's benchmark on $1 threads with huge pages $2 (on|off) until its 60 s average
# is printed; prints "dataset_ms hashrate".
run_xmrig() {
  local log pages=()
  log=$(mktemp)
  [ "$2" = off ] && pages=(--no-huge-pages)
  # xmrig's console output to a file is lost when it is stopped: it writes its own log.
  "$xmrig" --bench=250K --threads="$1" "${pages[@]}" --print-time=10 --no-color \
    --donate-level=0 --log-file="$log" >/dev/null 2>&1 &
  local pid=$!
  local waited=0
  # Dataset, then 60 s of hashing, then one more report; at most 5 minutes.
  while [ "$waited" -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
    sleep 5
    waited=$((waited + 5))
    if grep -E 'speed 10s/60s/15m [0-9.]+ [0-9.]+' "$log" >/dev/null; then
      break
    fi
  done
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local dataset rate
  dataset=$(grep -oE 'dataset ready \(([0-9]+) ms\)' "$log" | grep -oE '[0-9]+' | tail -1 || true)
  rate=$(grep -oE 'speed 10s/60s/15m [0-9.]+ [0-9.]+' "$log" | tail -1 | awk '{print $4}' || true)
  if [ -z "$rate" ]; then
    echo "xmrig gave no 60 s average; its output:" >&2
    cat "$log" >&2
  fi
  echo "${dataset:-?} ${rate:-?}"
  rm -f "$log"
}

# Runs Otedama's bench on $1 threads with huge pages $2 (auto|thp) and VM $3
# (auto|library); prints "dataset_ms hashrate pages_in_effect vm".
run_otedama() {
  "$node" bench --algo randomx --randomx-mode fast --threads "$1" --huge-pages "$2" \
    --randomx-vm "$3" --seconds "$seconds" --json 2>/dev/null |
    python3 -c 'import json, sys
r = json.loads(sys.stdin.read().splitlines()[-1])
print(round(r["dataset_init_seconds"] * 1000), round(r["hashes_per_second"], 1), r["pages"], r["vm"])'
}

set_hugepages() {
  sysctl -qw vm.nr_hugepages="$1"
}

echo "| pages | threads | program | dataset ready | H/s | pages in effect |"
echo "|---|---|---|---|---|---|"
for pages in ${PAGES:-hugetlb thp}; do
  if [ "$pages" = hugetlb ]; then
    # 2 GiB dataset, 256 MiB cache and scratchpads: 1 200 pages of 2 MiB.
    set_hugepages 1200 || { echo "cannot reserve huge pages (root needed); skipping them" >&2; continue; }
    xmrig_pages=on otedama_pages=auto
  else
    # No reserved pages: xmrig's --no-huge-pages still asks for transparent huge pages
    # (madvise), as Otedama's thp mode does.
    set_hugepages 0 || true
    xmrig_pages=off otedama_pages=thp
  fi
  for threads in 1 "$threads_all"; do
    read -r ms rate used vm < <(run_otedama "$threads" "$otedama_pages" auto)
    echo "| $pages | $threads | otedama-node ($vm VM) | ${ms} ms | $rate | $used |"
    read -r ms rate used vm < <(run_otedama "$threads" "$otedama_pages" library)
    echo "| $pages | $threads | otedama-node ($vm VM) | ${ms} ms | $rate | $used |"
    read -r ms rate < <(run_xmrig "$threads" "$xmrig_pages")
    echo "| $pages | $threads | xmrig $commit | ${ms} ms | $rate | $xmrig_pages |"
  done
done
set_hugepages 0 || true
