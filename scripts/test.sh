#!/usr/bin/env bash
# Runs every test: the Swift suites (unit and integration against real ferryd processes on
# loopback), the Python client's protocol and interop tests, the order system's Python handler test,
# and the power-cut tests (Tests/powercut).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== swift build --build-tests"
swift build --build-tests
echo "== swift test"
swift test --skip-build
echo "== python tests (client, interop, order system)"
bash clients/python/run-tests.sh Examples/OrderSystem/python/tests
echo "== power-cut tests (Tests/powercut: ferryd through simulated power losses)"
bash Tests/powercut/run-tests.sh
