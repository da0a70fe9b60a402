#!/usr/bin/env bash
# Runs every test: the SDK's dependency check, the Swift suites of the root package and of the
# order system (Examples/OrderSystem, a package of its own; unit and integration against real
# ferryd processes on loopback), the Python client's protocol and interop tests, the order
# system's Python handler test, the latency curve's result parsing, and the power-cut tests
# (Tests/powercut); the web console in a real browser (Tests/browser); and the deploy kit's
# checks (deploy/check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== SDK dependencies (scripts/check-sdk-dependencies.sh)"
bash scripts/check-sdk-dependencies.sh
echo "== swift build --build-tests"
swift build --build-tests
# The order system's tests and the Python tests start the executables built here.
FERRY_BIN_DIR=$(swift build --show-bin-path)
export FERRY_BIN_DIR
echo "== swift build --build-tests (Examples/OrderSystem)"
swift build --build-tests --package-path Examples/OrderSystem
ORDER_SYSTEM_BIN_DIR=$(swift build --show-bin-path --package-path Examples/OrderSystem)
export ORDER_SYSTEM_BIN_DIR
echo "== swift test"
swift test --skip-build
echo "== swift test (Examples/OrderSystem)"
swift test --skip-build --package-path Examples/OrderSystem
echo "== python tests (client, interop, order system, the latency curve's results)"
FERRYD=$FERRY_BIN_DIR/ferryd FERRY_INTEROP=$FERRY_BIN_DIR/ferry-interop \
  bash clients/python/run-tests.sh Examples/OrderSystem/python/tests Benchmarks/latency-curve
echo "== the web console in a real browser (Tests/browser: Playwright driving Debian's chromium)"
# Screenshots go to a scratch directory: docs/screenshots are regenerated on purpose, not by every run.
SCREENSHOT_DIR=$(mktemp -d) FERRYD=$FERRY_BIN_DIR/ferryd bash Tests/browser/run-tests.sh
echo "== deploy kit (deploy/check.sh: Prometheus config, alert rules and their tests, manifests, dashboard, a real Prometheus scraping ferryd)"
FERRYD=$FERRY_BIN_DIR/ferryd bash deploy/check.sh
echo "== power-cut tests (Tests/powercut: ferryd through simulated power losses)"
FERRYD=$FERRY_BIN_DIR/ferryd bash Tests/powercut/run-tests.sh
