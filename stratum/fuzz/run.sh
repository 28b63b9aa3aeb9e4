#!/usr/bin/env bash
# Short, bounded fuzz run of the Stratum parsers: SECS seconds per target (default 60).
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain. Crashes land in
# fuzz/artifacts/<target>/; copy each into fuzz/regressions/<target>/, where the normal
# test suite replays it (`cargo test -p otedama-stratum fuzzing`), and fix it there.
#
#   stratum/fuzz/run.sh          # 60 s per target
#   SECS=600 stratum/fuzz/run.sh # longer
set -euo pipefail
cd "$(dirname "$0")"
SECS="${SECS:-60}"
for target in line_codec message_parser; do
    mkdir -p "corpus/$target"
    echo "== $target: ${SECS}s"
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
        -max_total_time="$SECS" -max_len=4096 -dict=stratum.dict -print_final_stats=1
done
