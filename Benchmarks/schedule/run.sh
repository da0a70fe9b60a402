#!/usr/bin/env bash
# How late scheduled events arrive with a million more waiting, and what a million waiting
# costs ferryd in memory (see bench.py). Uses the Python client (scripts/python-env.sh).
#
# Usage: [FERRYD=...] run.sh [--backlog N] [--probes N] [--spread S] [--fsync batch|always|never]
# Needs a release build of ferryd (swift build -c release --product ferryd).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ferryd=${FERRYD:-$root/.build/release/ferryd}
[ -x "$ferryd" ] || { echo "a release build of ferryd is needed (swift build -c release --product ferryd)" >&2; exit 69; }
# shellcheck source=/dev/null
source "$root/scripts/python-env.sh" >/dev/null
exec "$PYTHON" "$here/bench.py" "$ferryd" "$@"
