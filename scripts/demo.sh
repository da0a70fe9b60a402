#!/usr/bin/env bash
# Ferry's main job on one machine: ferryd, the order system's workers and API, and demo
# traffic, narrated. Extra arguments go to `order-system run` (e.g. --orders 50,
# --keep-running, --endpoint tcp://127.0.0.1:7500, --api-port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== building (swift build)"
swift build 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | grep -v "^\[" || true
test -x .build/debug/order-system || { echo "build failed" >&2; exit 1; }
exec .build/debug/order-system run "$@"
