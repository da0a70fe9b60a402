#!/usr/bin/env bash
# Runs the power-cut tests (Tests/powercut, see README.md there) against a real ferryd (FERRYD,
# default .build/debug/ferryd). The LD_PRELOAD shim is compiled into pytest's temporary directory
# with cc (or $CC). Uses the same Python environment as clients/python/run-tests.sh: pyzmq,
# protobuf and pytest from the system if present, else from clients/python/.venv (git-ignored).
# Exits with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/../.."

source scripts/python-env.sh

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider Tests/powercut "$@"
exit $?
