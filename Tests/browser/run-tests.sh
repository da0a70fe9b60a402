#!/usr/bin/env bash
# Runs the web console's browser tests (Tests/browser, see README.md) headless against a real
# ferryd (FERRYD, default .build/debug/ferryd), in Debian's chromium driven by Playwright.
# Installs what is missing: chromium with apt-get (through sudo unless root), Playwright and
# pytest into Tests/browser/.venv (git-ignored) from requirements.txt. Nothing else is installed
# globally. Extra arguments go to pytest. Exits with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/../.."

HERE=Tests/browser
VENV=$HERE/.venv
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

apt_install() {
  $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

if ! command -v chromium >/dev/null 2>&1; then
  echo "run-tests.sh: installing Debian's chromium" >&2
  apt_install chromium || exit 1
fi

# Playwright's pinned version (requirements.txt) decides whether the venv is up to date.
check='import importlib.metadata as m, pytest, playwright.sync_api; assert m.version("playwright").startswith("1.65."), m.version("playwright")'
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    apt_install python3-venv || exit 1
  fi
  python3 -m venv "$VENV" || exit 1
fi
PYTHON=$VENV/bin/python
if ! "$PYTHON" -c "$check" >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt" || exit 1
fi

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider "$HERE" "$@"
exit $?
