#!/usr/bin/env bash
# Exports the Ferry SDK's spans with swift-otel to a real OTLP/HTTP endpoint and checks them:
# builds this package (swift-otel takes several minutes the first time), starts a ferryd and a
# stand-in collector (Python, decoding OTLP protobuf with opentelemetry-proto), runs
# traced-checkout (a publish inside a span, a handler that fails once), and checks that the
# collector received the producer span and one consumer span per attempt, all in one trace.
# Needs the root package's ferryd (swift build --product ferryd). Not part of scripts/test.sh:
# run it when this package or the SDK's tracing changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ferryd=${FERRYD:-$root/.build/debug/ferryd}
[ -x "$ferryd" ] || { echo "build ferryd first: swift build --product ferryd" >&2; exit 69; }
swift build --package-path "$here" 2>&1 | grep -E "error|warning: unre|Build complete" || true
bin=$(swift build --package-path "$here" --show-bin-path)
venv=$here/.venv
if ! "$venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q opentelemetry-proto
fi
exec "$venv/bin/python" "$here/check_export.py" --ferryd "$ferryd" --example "$bin/traced-checkout"
