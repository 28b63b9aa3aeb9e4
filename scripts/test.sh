#!/usr/bin/env bash
# Runs the whole test suite (what CI runs after installing system packages).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
