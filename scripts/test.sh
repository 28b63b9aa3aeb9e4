#!/usr/bin/env bash
# Runs the whole test suite (what CI runs after installing system packages).
#
# Tests that need a tool outside the workspace fail without it, saying what to install,
# unless their skip variable is exactly 1: OTEDAMA_SKIP_DAEMON_TESTS (litecoind),
# OTEDAMA_SKIP_OPENCL_TESTS (an OpenCL device), OTEDAMA_SKIP_BROWSER_TESTS (Chromium,
# Node.js >= 20 and npm for the dashboard), OTEDAMA_SKIP_LAN_TESTS (the Stratum ban
# tests, which need a non-loopback address), OTEDAMA_SKIP_CONTAINER_TESTS (root, podman,
# debootstrap and curl for scripts/container-test.sh), OTEDAMA_SKIP_DEPLOY_LINT (shellcheck,
# systemd-analyze, and hadolint, kubernetes-validate and dclint from
# `scripts/lint-deploy.sh --install-tools`, for scripts/lint-deploy.sh), OTEDAMA_SKIP_ORACLE_TESTS
# (python3 with PyPI's ethash and kawpow, the hashing oracles). Under CI (CI=true)
# no skip variable may be set, and this script stops before building when a tool is missing.
#
# With no arguments, after `cargo test` it checks the deployment files
# (scripts/lint-deploy.sh) and builds and runs the container image (scripts/container-test.sh);
# arguments go to `cargo test` and skip those two.
set -euo pipefail
cd "$(dirname "$0")/.."

is_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }

# The CUDA kernel tests compile with NVRTC when libnvrtc.so.12 loads (OTEDAMA_REQUIRE_NVRTC=1
# makes its absence a failure). Find the lib folder of the PyPI wheel nvidia-cuda-nvrtc-cu12,
# installed with pip or with `pip install --target "$OTEDAMA_NVRTC_DIR"` (as .ci/run does),
# and put it on the loader's path.
nvrtc_lib=$(PYTHONPATH="${OTEDAMA_NVRTC_DIR:-}" python3 -c \
  'import os, nvidia.cuda_nvrtc as m; print(os.path.join(list(m.__path__)[0], "lib"))' \
  2>/dev/null || true)
if [ -n "$nvrtc_lib" ] && [ -d "$nvrtc_lib" ]; then
  export LD_LIBRARY_PATH="$nvrtc_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# Lists what a full run lacks: every test's tools, and no skip variable set.
missing_tools() {
  local v litecoind="${LITECOIND:-}" chromium="${CHROMIUM:-/usr/bin/chromium}" major
  for v in $(compgen -v OTEDAMA_SKIP_ || true); do
    echo "$v is set (=${!v}): CI runs every test"
  done
  if [ -z "$litecoind" ]; then
    for v in /usr/lib/litecoin/litecoind /usr/local/bin/litecoind; do
      if [ -x "$v" ]; then litecoind="$v"; break; fi
    done
  fi
  [ -n "$litecoind" ] && [ -x "$litecoind" ] ||
    echo "litecoind: apt-get install litecoind (or set LITECOIND)"
  [ -x "$chromium" ] || echo "chromium at $chromium: apt-get install chromium (or set CHROMIUM)"
  if command -v node >/dev/null 2>&1; then
    major=$(node --version | sed -E 's/^v([0-9]+).*/\1/')
    [ "$major" -ge 20 ] 2>/dev/null ||
      echo "Node.js >= 20 (found $(node --version)): install a newer nodejs"
  else
    echo "node: apt-get install nodejs (Node.js >= 20)"
  fi
  command -v npm >/dev/null 2>&1 || echo "npm: apt-get install npm (the dashboard test's \`npm ci\`)"
  grep -qs pocl /etc/OpenCL/vendors/*.icd ||
    echo "the PoCL OpenCL ICD (/etc/OpenCL/vendors/pocl.icd): apt-get install ocl-icd-libopencl1 pocl-opencl-icd"
  if ! { [ -n "$nvrtc_lib" ] && ls "$nvrtc_lib"/libnvrtc.so.12* >/dev/null 2>&1; } &&
    ! ldconfig -p 2>/dev/null | grep -q 'libnvrtc\.so\.12'; then
    echo "libnvrtc.so.12: pip install nvidia-cuda-nvrtc-cu12 (.ci/run installs it into \$OTEDAMA_NVRTC_DIR)"
  fi
  [ -x "${MONEROD:-/usr/bin/monerod}" ] ||
    echo "monerod: apt-get install monero (or set MONEROD)"
  command -v translator_sv2 >/dev/null 2>&1 ||
    echo "translator_sv2: cargo install translator_sv2 --version 0.6.0 --locked --no-default-features (.ci/run installs it)"
  PYTHONPATH="${OTEDAMA_ORACLES_DIR:-}" python3 -c 'import ethash, kawpow' 2>/dev/null ||
    echo "the hashing oracles: pip install ethash==1.1.0 kawpow==0.9.4.4 (.ci/run installs them into \$OTEDAMA_ORACLES_DIR)"
  if [ "${OTEDAMA_SKIP_CONTAINER_TESTS:-}" != 1 ]; then
    for v in podman debootstrap curl; do
      command -v "$v" >/dev/null 2>&1 || echo "$v: apt-get install $v (the container test)"
    done
    if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
      echo "root (or sudo without a password): the container test runs rootful podman and debootstrap"
    fi
  fi
  if [ "${OTEDAMA_SKIP_DEPLOY_LINT:-}" != 1 ]; then
    command -v shellcheck >/dev/null 2>&1 || echo "shellcheck: apt-get install shellcheck"
    command -v systemd-analyze >/dev/null 2>&1 || echo "systemd-analyze: apt-get install systemd"
    local tools="${OTEDAMA_TOOLS:-$HOME/.cache/otedama/tools}"
    for v in py/bin/hadolint py/bin/kubernetes-validate npm/node_modules/.bin/dclint; do
      [ -x "$tools/$v" ] || command -v "${v##*/}" >/dev/null 2>&1 ||
        echo "${v##*/}: scripts/lint-deploy.sh --install-tools"
    done
  fi
}

# Under CI (or with --check-tools, which only checks), stop with a clear message when a
# tool is missing, before building anything.
if is_ci || [ "${1:-}" = "--check-tools" ]; then
  mapfile -t problems < <(missing_tools)
  if [ "${#problems[@]}" -gt 0 ]; then
    echo "test: a full run needs every test's tools; missing or wrong:" >&2
    printf 'test:   %s\n' "${problems[@]}" >&2
    exit 1
  fi
  [ "${1:-}" = "--check-tools" ] && { echo "test: every test's tools are here"; exit 0; }
  export OTEDAMA_REQUIRE_NVRTC=1
fi

# The dashboard test drives Debian's chromium with playwright-core from npm (which never
# downloads a browser); without npm it fails unless OTEDAMA_SKIP_BROWSER_TESTS=1.
if command -v npm >/dev/null 2>&1; then
  (cd rpc/tests/dashboard && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
else
  echo "test: no npm: the dashboard test fails unless OTEDAMA_SKIP_BROWSER_TESTS=1" >&2
fi

cargo test --workspace --locked "$@"

if [ "$#" = 0 ]; then
  if [ "${OTEDAMA_SKIP_DEPLOY_LINT:-}" = 1 ]; then
    echo "test: deployment lint skipped (OTEDAMA_SKIP_DEPLOY_LINT=1)" >&2
  else
    scripts/lint-deploy.sh
  fi
  if [ "${OTEDAMA_SKIP_CONTAINER_TESTS:-}" = 1 ]; then
    echo "test: container test skipped (OTEDAMA_SKIP_CONTAINER_TESTS=1)" >&2
  else
    scripts/container-test.sh
  fi
fi
