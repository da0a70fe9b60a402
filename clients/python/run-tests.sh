#!/usr/bin/env bash
# Runs the Python client's tests against a real ferryd (FERRYD, default .build/debug/ferryd) and,
# if built, the Swift interop tool (FERRY_INTEROP, default .build/debug/ferry-interop).
# Installs nothing globally: if pyzmq/protobuf/pytest are missing, they go into
# clients/python/.venv (git-ignored). Exits with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=python3
check='import zmq, pytest, google.protobuf as p; v = tuple(int(x) for x in p.__version__.split(".")[:2]); assert (4, 21) <= v < (5, 0), p.__version__'
if ! "$PYTHON" -c "$check" 2>/dev/null; then
  VENV=clients/python/.venv
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || exit 1
  fi
  PYTHON="$VENV/bin/python"
  if ! "$PYTHON" -c "$check" 2>/dev/null; then
    "$PYTHON" -m pip install -q -r clients/python/requirements.txt || exit 1
  fi
fi

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider clients/python/tests "$@"
exit $?
