#!/usr/bin/env bash
# Installs the Otedama node as a systemd service on this machine, idempotently:
#
#   - the binary as PREFIX/bin/otedama-node (default /usr/local/bin),
#   - the system user and group `otedama`,
#   - /etc/otedama/config.yaml from scripts/systemd/config.yaml (or --config FILE), never
#     overwriting one that exists (the new one goes beside it as config.yaml.new),
#   - the hardened unit /etc/systemd/system/otedama.service,
#
# then checks the config, reloads systemd and enables and (re)starts the service when something
# changed. Running it again changes nothing.
#
# usage: sudo scripts/production-deploy.sh [--dry-run] [--binary FILE] [--config FILE]
#                                          [--prefix DIR] [--root DIR] [--no-start]
#   --dry-run     prints what it would do, changes nothing (needs no root)
#   --binary      the node binary (default: target/dist/otedama-node, else
#                 target/release/otedama-node, else otedama-node on PATH)
#   --config      the config to install when /etc/otedama/config.yaml does not exist
#   --prefix      where the binary goes (default /usr/local)
#   --root        install into this directory instead of / (for packaging and tests):
#                 no user is created and systemd is left alone
#   --no-start    installs and enables nothing beyond the files
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
BINARY=""
CONFIG=scripts/systemd/config.yaml
PREFIX=/usr/local
ROOT=""
START=1
USER_NAME=otedama

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --binary) BINARY=${2:?--binary FILE}; shift ;;
    --config) CONFIG=${2:?--config FILE}; shift ;;
    --prefix) PREFIX=${2:?--prefix DIR}; shift ;;
    --root) ROOT=${2:?--root DIR}; shift ;;
    --no-start) START=0 ;;
    -h | --help) usage ;;
    *) echo "production-deploy: unknown option $1" >&2; usage ;;
  esac
  shift
done

say() { echo "production-deploy: $*"; }
# Runs a command, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    say "would run:$(printf ' %q' "$@")"
  else
    "$@"
  fi
}

if [ -z "$BINARY" ]; then
  for b in "${CARGO_TARGET_DIR:-target}/dist/otedama-node" "${CARGO_TARGET_DIR:-target}/release/otedama-node"; do
    if [ -x "$b" ]; then BINARY=$b; break; fi
  done
  [ -n "$BINARY" ] || BINARY=$(command -v otedama-node || true)
fi
if [ -z "$BINARY" ] || [ ! -x "$BINARY" ]; then
  say "no node binary: build it (make dist) or pass --binary FILE"
  exit 1
fi
[ -f "$CONFIG" ] || { say "no config at $CONFIG"; exit 1; }
if [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
  say "run it as root (sudo), or with --dry-run"
  exit 1
fi

BIN_DEST="$ROOT$PREFIX/bin/otedama-node"
CONF_DIR="$ROOT/etc/otedama"
CONF_DEST="$CONF_DIR/config.yaml"
UNIT_DEST="$ROOT/etc/systemd/system/otedama.service"
changed=0

# Installs $1 as $2 with mode $3 (and owner $4 when given) unless $2 already has that content.
install_file() {
  local src=$1 dest=$2 mode=$3 owner=${4:-}
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    say "unchanged: $dest"
    return 0
  fi
  run install -D -m "$mode" "$src" "$dest"
  if [ -n "$owner" ] && [ -z "$ROOT" ]; then run chown "$owner" "$dest"; fi
  [ "$DRY_RUN" = 1 ] || say "installed: $dest"
  changed=1
}

# 1. The binary.
install_file "$BINARY" "$BIN_DEST" 0755

# 2. The system user (its home is the state directory systemd creates).
if [ -n "$ROOT" ]; then
  say "skipped under --root: the system user $USER_NAME"
elif getent passwd "$USER_NAME" >/dev/null; then
  say "unchanged: user $USER_NAME"
else
  run useradd --system --user-group --home-dir /var/lib/otedama --no-create-home \
    --shell /usr/sbin/nologin --comment "Otedama node" "$USER_NAME"
  [ "$DRY_RUN" = 1 ] || say "created: user $USER_NAME"
fi

# 3. The config: the operator's edits are never overwritten.
if [ -z "$ROOT" ]; then owner="root:$USER_NAME"; else owner=""; fi
if [ -f "$CONF_DEST" ]; then
  if cmp -s "$CONFIG" "$CONF_DEST"; then
    say "unchanged: $CONF_DEST"
  elif [ -f "$CONF_DEST.new" ] && cmp -s "$CONFIG" "$CONF_DEST.new"; then
    say "kept: $CONF_DEST (differs from $CONFIG, which is at $CONF_DEST.new)"
  else
    install_file "$CONFIG" "$CONF_DEST.new" 0640 "$owner"
    say "kept: $CONF_DEST (yours); compare it with $CONF_DEST.new"
  fi
else
  install_file "$CONFIG" "$CONF_DEST" 0640 "$owner"
fi

# 4. The unit, pointing at the installed binary.
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|@BINDIR@|$PREFIX/bin|g" scripts/systemd/otedama.service >"$unit"
unit_changed_before=$changed
changed=0
install_file "$unit" "$UNIT_DEST" 0644
unit_changed=$changed
changed=$((changed | unit_changed_before))

# 5. Check the config with the installed binary, then systemd.
if [ -n "$ROOT" ]; then
  say "skipped under --root: config check, systemctl"
  exit 0
fi
if [ "$DRY_RUN" = 1 ] && [ ! -x "$BIN_DEST" ]; then
  say "would run: $BIN_DEST config check $CONF_DEST"
else
  check_conf=$CONF_DEST
  [ -f "$check_conf" ] || check_conf=$CONFIG
  if [ "$DRY_RUN" = 1 ]; then bin=$BINARY; else bin=$BIN_DEST; fi
  "$bin" config check "$check_conf" || { say "fix the config ($check_conf) and run this again"; exit 1; }
fi
if [ ! -d /run/systemd/system ]; then
  say "systemd is not running here: start the service where it runs: systemctl enable --now otedama"
  exit 0
fi
if [ "$unit_changed" = 1 ]; then run systemctl daemon-reload; fi
if [ "$START" = 0 ]; then
  say "not started (--no-start): systemctl enable --now otedama"
  exit 0
fi
if ! systemctl is-enabled --quiet otedama 2>/dev/null; then run systemctl enable otedama; fi
if ! systemctl is-active --quiet otedama 2>/dev/null; then
  run systemctl start otedama
  [ "$DRY_RUN" = 1 ] || say "started: otedama"
elif [ "$changed" = 1 ]; then
  run systemctl restart otedama
  [ "$DRY_RUN" = 1 ] || say "restarted: otedama (its files changed)"
else
  say "unchanged: otedama is running"
fi
