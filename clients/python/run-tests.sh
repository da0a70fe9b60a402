#!/usr/bin/env bash
# Runs the Python client's tests against a real ferryd (FERRYD, default .build/debug/ferryd) and,
# if built, the Swift interop tool (FERRY_INTEROP, default .build/debug/ferry-interop).
# Installs nothing globally: if pyzmq/protobuf/pytest/opentelemetry are missing, they go into
# clients/python/.venv (git-ignored). Exits with pytest's status.
set -uo pipefail
cd "$(dirname "$0")/../.."

source scripts/python-env.sh

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m pytest -q -p no:cacheprovider clients/python/tests "$@"
exit $?
