#!/usr/bin/env bash
# Runs the whole test suite (what CI runs after installing system packages).
set -euo pipefail
cd "$(dirname "$0")/.."

# The dashboard test drives Debian's chromium with playwright-core from npm (which never
# downloads a browser). It needs Node.js >= 20; without npm the test says it is skipped.
if command -v npm >/dev/null 2>&1 && [ ! -d rpc/tests/dashboard/node_modules ]; then
  (cd rpc/tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
fi

# The CUDA kernel tests compile with NVRTC when libnvrtc.so.12 loads (otherwise they say
# they are skipped). Find the lib folder of the PyPI wheel nvidia-cuda-nvrtc-cu12, installed
# with pip or with `pip install --target "$OTEDAMA_NVRTC_DIR"` (as .ci/run does), and put
# it on the loader's path.
nvrtc_lib=$(PYTHONPATH="${OTEDAMA_NVRTC_DIR:-}" python3 -c \
  'import os, nvidia.cuda_nvrtc as m; print(os.path.join(list(m.__path__)[0], "lib"))' \
  2>/dev/null || true)
if [ -n "$nvrtc_lib" ] && [ -d "$nvrtc_lib" ]; then
  export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

cargo test --workspace --locked "$@"
