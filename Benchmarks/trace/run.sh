#!/usr/bin/env bash
# What the trace log costs: `ferry bench peers` with ferryd tracing every event (`all`), a
# sample (`fraction:0.1`) and nothing (`off`), at saturation and at a fixed rate, in
# interleaved rounds (the order of the variants rotates from round to round).
#
# Prints every result line prefixed with the round (systems `ferry-trace-all`,
# `ferry-trace-sampled`, `ferry-trace-off`), then per mode and workload the medians over the
# rounds, and per round the ratio of each variant to `off`: saturation end-to-end throughput,
# and p50 and p99 at the rate.
#
# Usage: [FERRY=...] [MODES="never batch"] [WORKLOADS="saturation rate"] [SAMPLE=0.1] run.sh [ROUNDS] [RATE]
# Needs release builds of ferry and ferryd (swift build -c release --product ferryd; --product ferry).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3}
rate=${2:-10000}
ferry=${FERRY:-$root/.build/release/ferry}
modes=${MODES:-never batch}
workloads=${WORKLOADS:-saturation rate}
sample=${SAMPLE:-0.1}
[ -x "$ferry" ] && [ -x "$(dirname "$ferry")/ferryd" ] || {
    echo "release builds of ferry and ferryd are needed (swift build -c release --product ferryd; --product ferry)" >&2
    exit 69
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
lines=$work/lines
: >"$lines"

run_ferry() { # round label mode workload sampling
    local round=$1 label=$2 mode=$3 workload=$4 sampling=$5
    local args=(--fsync "$mode" --spawn --trace "$sampling")
    [ "$workload" = rate ] && args+=(--rate "$rate")
    local line
    line=$("$ferry" bench peers "${args[@]}" 2>/dev/null) || true
    [ -n "$line" ] || line="ferry $mode NA"
    echo "round$round $workload ${line/#ferry /$label }" | tee -a "$lines" >&2
}

variants=("ferry-trace-all all" "ferry-trace-sampled $sample" "ferry-trace-off off")
for round in $(seq 1 "$rounds"); do
    for workload in $workloads; do
        for mode in $modes; do
            for index in 0 1 2; do
                variant=${variants[$(((index + round) % 3))]}
                run_ferry "$round" "${variant%% *}" "$mode" "$workload" "${variant#* }"
            done
        done
    done
done

cat "$lines"
python3 "$here/summarize.py" "$lines"
