#!/usr/bin/env bash
# The durable-ack workload's floor for any libzmq broker: the peers' fixed-rate workload
# (../shared/peers/README.md §5) against ackbroker.c, a ROUTER that confirms each publish and
# forwards it to the consumer, with no storage and no protocol. One result line per round, in
# the peers' format. With MODE=strict the broker also appends each pass's publishes to a file in
# a temporary directory and fdatasyncs it on the loop thread before confirming and delivering
# them (Redis's appendfsync always): the floor for the fsync-before-confirm mode.
# Usage: [MODE=none|strict] run.sh [ROUNDS] [RATE]   (needs libzmq3-dev and ../shared/peers)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
peers=${PEERS_DIR:-$here/../../../shared/peers}
rounds=${1:-1}
rate=${2:-10000}
port=${PORT:-17501}
mode=${MODE:-none}
case $mode in none | strict) ;; *) echo "MODE must be none or strict, not $mode" >&2; exit 64 ;; esac
build=$(mktemp -d)
trap 'kill "${broker:-}" 2>/dev/null || true; rm -rf "$build"' EXIT
cc -O2 -std=gnu11 -pthread -o "$build/ackbroker" "$here/ackbroker.c" -lzmq
cc -O2 -std=gnu11 -pthread -Wno-unused-function -I"$peers/src" -o "$build/bench_ack" "$here/bench_ack.c" -lzmq
for _ in $(seq "$rounds"); do
    file=()
    [ "$mode" = strict ] && file=("$build/floor.log")
    "$build/ackbroker" "$port" "${file[@]}" 2>/dev/null &
    broker=$!
    "$build/bench_ack" -s zmq-ack-floor -m "$mode" -H 127.0.0.1 -n $((rate * 10)) -w 1000 -b 256 -l 100 -d 120 \
        -r "$rate" -p "$port" -x shared 2>/dev/null || true
    rm -f "$build/floor.log"
    echo
    kill "$broker"
    wait "$broker" 2>/dev/null || true
done
