#!/usr/bin/env bash
# What CURVE costs: `ferry bench peers` with and without CURVE, at saturation and at a fixed
# rate, in interleaved rounds (the order alternates from round to round), beside Redis Streams
# (without TLS) run by ../shared/peers in the same run, in the same durability modes: Ferry
# `never` against Redis default, `batch` against Redis strict (appendfsync always).
#
# Prints every result line prefixed with the round (systems `ferry` and `ferry-curve`), then per
# system, mode and workload the medians over the rounds, and the two figures the target names:
# CURVE's saturation end-to-end throughput against Redis's, and its p99 at the rate against
# plain Ferry's (median of each round's ratio).
#
# Usage: [FERRY=...] [MODES="never batch"] [WORKLOADS="saturation rate"] [SKIP_REDIS=1] run.sh [ROUNDS] [RATE]
# Needs release builds of ferry and ferryd (swift build -c release --product ferryd; --product
# ferry) and ../shared/peers (or PEERS_DIR), which installs redis-server itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS_DIR:-$root/../shared/peers}
rounds=${1:-3}
rate=${2:-10000}
ferry=${FERRY:-$root/.build/release/ferry}
modes=${MODES:-never batch}
workloads=${WORKLOADS:-saturation rate}
[ -x "$ferry" ] && [ -x "$(dirname "$ferry")/ferryd" ] || {
    echo "release builds of ferry and ferryd are needed (swift build -c release --product ferryd; --product ferry)" >&2
    exit 69
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
lines=$work/lines
: >"$lines"

if [ "${SKIP_REDIS:-0}" != 1 ]; then
    echo "== Redis Streams (../shared/peers), saturation and $rate ev/s" >&2
    (cd "$peers" && SYSTEMS=redis ./run.sh 2>/dev/null) | grep -E '^redis ' | sed 's/^/redis-run saturation /' >>"$lines" || true
    (cd "$peers" && SYSTEMS=redis RATE=$rate ./run.sh 2>/dev/null) | grep -E '^redis ' | sed 's/^/redis-run rate /' >>"$lines" || true
fi

run_ferry() { # round label mode workload [flags...]
    local round=$1 label=$2 mode=$3 workload=$4
    shift 4
    local args=(--fsync "$mode" --spawn "$@")
    [ "$workload" = rate ] && args+=(--rate "$rate")
    local line
    line=$("$ferry" bench peers "${args[@]}" 2>/dev/null) || true
    [ -n "$line" ] || line="ferry $mode NA"
    echo "round$round $workload ${line/#ferry /$label }" | tee -a "$lines" >&2
}

for round in $(seq 1 "$rounds"); do
    for workload in $workloads; do
        for mode in $modes; do
            if [ $((round % 2)) = 1 ]; then
                run_ferry "$round" ferry "$mode" "$workload"
                run_ferry "$round" ferry-curve "$mode" "$workload" --curve
            else
                run_ferry "$round" ferry-curve "$mode" "$workload" --curve
                run_ferry "$round" ferry "$mode" "$workload"
            fi
        done
    done
done

cat "$lines"
python3 "$here/summarize.py" "$lines"
