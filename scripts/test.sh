#!/usr/bin/env bash
# Runs every test: the Swift suites (unit and integration against real ferryd processes on
# loopback) and the Python client's protocol and interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== swift build --build-tests"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== python client tests"
bash clients/python/run-tests.sh
