#!/usr/bin/env bash
# Checks the deploy kit (deploy/README.md, "What was checked"): Prometheus' configuration, alert
# rules and their unit tests with promtool; the blackbox module; every Kubernetes manifest with
# kubernetes-validate's bundled schemas of one pinned Kubernetes version (the KEDA ScaledObject
# with deploy/kubernetes/schemas/); the kustomization; the metric names of the Grafana dashboard
# and the alerts against those ferryd serves; the systemd units; then pytest: deploy/tests/ with a
# real ferryd ($FERRYD, default .build/debug/ferryd) scraped by a real Prometheus.
#
#   deploy/check.sh                       # from anywhere; exits non-zero if any step failed
#
# Installs what it lacks: Debian's prometheus and prometheus-blackbox-exporter (apt-get, with sudo
# when not root) and, in deploy/.venv (git-ignored), the Python packages of deploy/requirements.txt.
# Runs every step even after a failure, then lists the failed ones.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

KUBERNETES_VERSION=1.32.0      # the schemas kubernetes-validate checks the manifests against
VENV=deploy/.venv
PYTHON=$VENV/bin/python
started=$SECONDS
failed=()

# step NAME COMMAND...: run COMMAND, report it under NAME, remember a failure.
step() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    echo "   passed: $name"
  else
    echo "   FAILED: $name"
    failed+=("$name")
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PACKAGE...: install Debian packages quietly.
apt_install() {
  echo "installing $* (apt-get)"
  as_root apt-get update -qq \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_prometheus() {
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    apt_install prometheus || return 1
  fi
  if ! command -v prometheus-blackbox-exporter >/dev/null; then
    apt_install prometheus-blackbox-exporter || echo "   (no blackbox exporter: its checks are skipped)"
  fi
  return 0
}

python_ready() {
  [ -x "$PYTHON" ] && "$PYTHON" -c '
import jsonschema, kubernetes_validate, pytest, yaml, zmq
import google.protobuf as p
assert (4, 21) <= tuple(int(x) for x in p.__version__.split(".")[:2]) < (5, 0), p.__version__' 2>/dev/null
}

# deploy/.venv with deploy/requirements.txt, made or filled only when something is missing.
setup_python() {
  python_ready && return 0
  if [ ! -x "$PYTHON" ]; then
    python3 -m venv "$VENV" || { echo "   python3 -m venv failed: apt-get install python3-venv"; return 1; }
  fi
  "$PYTHON" -m pip install -q -r deploy/requirements.txt && python_ready
}

check_blackbox() {
  if ! command -v prometheus-blackbox-exporter >/dev/null; then
    echo "   skipped: prometheus-blackbox-exporter is not installed"
    return 0
  fi
  prometheus-blackbox-exporter --config.file=deploy/prometheus/blackbox.yml --config.check 2>&1 | tail -n 1
}

check_kustomize_build() {
  if ! command -v kubectl >/dev/null; then
    echo "   skipped: no kubectl (kustomization.yaml's resource list is checked above)"
    return 0
  fi
  kubectl kustomize deploy/kubernetes >/dev/null
}

# systemd-analyze verify, less the complaint that the binaries are not installed on this machine.
check_systemd_units() {
  if ! command -v systemd-analyze >/dev/null; then
    echo "   skipped: no systemd-analyze"
    return 0
  fi
  local unit output problems=""
  for unit in deploy/systemd/ferryd.service deploy/systemd/order-system@.service; do
    # shellcheck disable=SC2016  # $container is systemd's text, not a variable
    output=$(systemd-analyze verify --man=no "$unit" 2>&1 \
      | grep -vF -e 'is not executable: No such file or directory' -e 'Failed to read $container')
    [ -z "$output" ] || problems+="$output"$'\n'
  done
  [ -z "$problems" ] || { printf '%s' "$problems"; return 1; }
}

checks() {
  "$PYTHON" deploy/tests/deploy_checks.py "$@"
}

step "install Prometheus (Debian)" install_prometheus
step "Python packages in $VENV" setup_python
step "promtool check config" promtool check config deploy/prometheus/prometheus.yml deploy/prometheus/prometheus-kubernetes.yml
step "promtool check rules" promtool check rules deploy/prometheus/ferry-alerts.yml
step "promtool test rules" promtool test rules deploy/prometheus/ferry-alerts.test.yml
step "blackbox exporter module" check_blackbox
step "Kubernetes manifests (Kubernetes $KUBERNETES_VERSION, KEDA schema)" checks manifests --kubernetes-version "$KUBERNETES_VERSION"
step "kustomization lists every manifest" checks kustomization
step "kubectl kustomize" check_kustomize_build
step "dashboard and alert metric names" checks metric-names
step "systemd units (systemd-analyze verify)" check_systemd_units
step "pytest deploy/tests (offline checks, real ferryd + Prometheus)" \
  "$PYTHON" -m pytest -q -rs -p no:cacheprovider deploy/tests

echo "== deploy/check.sh took $((SECONDS - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all checks passed"
