#!/usr/bin/env bash
# Ferry's main job on one machine: ferryd, the order system's workers (Swift, and one in
# Python) and API, and demo traffic, narrated. Builds ferryd (the root package) and the order system (Examples/OrderSystem,
# a package of its own). Extra arguments go to `order-system run` (e.g. --orders 50,
# --keep-running, --endpoint tcp://127.0.0.1:7500, --api-port 8081).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
quiet() { grep -E "error|warning: unre|Compiling|Build complete" | grep -v "^\[" || true; }
echo "== building ferryd (swift build --product ferryd)"
swift build --product ferryd 2>&1 | quiet
echo "== building the order system (swift build --package-path Examples/OrderSystem)"
swift build --package-path Examples/OrderSystem 2>&1 | quiet
ferryd=$(swift build --show-bin-path)/ferryd
order_system=$(swift build --show-bin-path --package-path Examples/OrderSystem)/order-system
test -x "$ferryd" && test -x "$order_system" || { echo "build failed" >&2; exit 1; }
echo "== the Python loyalty worker's interpreter (clients/python's requirements; scripts/python-env.sh)"
source scripts/python-env.sh
python=$(command -v "$PYTHON")
python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python")
exec "$order_system" run --ferryd "$ferryd" --python "$python" \
  --loyalty-worker "$PWD/Examples/OrderSystem/python/loyalty_worker.py" "$@"
