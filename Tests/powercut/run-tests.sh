#!/usr/bin/env bash
# Runs the power-cut tests (Tests/powercut, see README.md there) against a real ferryd (FERRYD,
# default .build/debug/ferryd). The LD_PRELOAD shim is compiled into pytest's temporary directory
# with cc (or $CC). Uses the same Python environment as clients/python/run-tests.sh: pyzmq,
# protobuf and pytest from the system if present, else from clients/python/.venv (git-ignored).
# Exits with pytest's status.
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

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider Tests/powercut "$@"
exit $?
