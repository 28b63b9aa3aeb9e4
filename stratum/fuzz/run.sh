#!/usr/bin/env bash
# Short, bounded fuzz run of the Stratum parsers (v1 lines and JSON, SV2 frames): SECS
# seconds per target (default 60). Needs cargo-fuzz (`cargo install cargo-fuzz`) and a
# nightly toolchain. Crashes land in fuzz/artifacts/<target>/; copy each into
# fuzz/regressions/<target>/, where the normal test suite replays it
# (`cargo test -p otedama-stratum fuzzing`), and fix it there.
#
#   stratum/fuzz/run.sh          # 60 s per target
#   SECS=600 stratum/fuzz/run.sh # longer
set -euo pipefail
cd "$(dirname "$0")"
SECS="${SECS:-60}"
for target in line_codec message_parser sv2_frame; do
    mkdir -p "corpus/$target"
    # The dictionary holds Stratum v1 (JSON) tokens; SV2 frames are binary.
    case "$target" in
        sv2_frame) dict=() ;;
        *) dict=(-dict=stratum.dict) ;;
    esac
    echo "== $target: ${SECS}s"
    cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
        -max_total_time="$SECS" -max_len=4096 ${dict[@]+"${dict[@]}"} -print_final_stats=1
done
