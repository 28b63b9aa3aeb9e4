#!/usr/bin/env bash
# Runs the whole test suite (what CI runs after installing system packages).
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboard test drives Debian's chromium with playwright-core from npm (which never
# downloads a browser). It needs Node.js >= 20; without npm the test says it is skipped.
if command -v npm >/dev/null 2>&1 && [ ! -d rpc/tests/dashboard/node_modules ]; then
  (cd rpc/tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo test --workspace --locked "$@"
