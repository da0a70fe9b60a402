#!/usr/bin/env bash
# Same-round p99 comparisons at a fixed rate, Redis Streams against Ferry, interleaved: one run
# of either system says little about a p99 on a noisy machine, many paired rounds do. Each round
# runs the peers' Redis client (../shared/peers, the fixed-rate workload of its README) against a
# fresh redis-server with the peers' config, then `ferry bench peers` with the matching policy,
# and prints both result lines; a tally follows.
#
# Usage: run.sh [ROUNDS] [default|strict] [RATE]
#   default: Redis's default persistence against `--fsync never`
#   strict:  Redis with appendfsync always against `--fsync batch` (Ferry's default)
# Needs redis-server, libhiredis-dev, ../shared/peers (or PEERS_DIR), and release builds of
# ferry and ferryd (swift build -c release --product ferryd && swift build -c release --product ferry).
# FERRYD=<binary> runs another ferryd build (A/B); PORT picks Redis's port (17301).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS_DIR:-$root/../shared/peers}
rounds=${1:-8}
mode=${2:-default}
rate=${3:-10000}
port=${PORT:-17301}
ferry=$root/.build/release/ferry
case $mode in
    default) policy=never ;;
    strict) policy=batch ;;
    *) echo "mode must be default or strict, not $mode" >&2; exit 64 ;;
esac
[ -x "$ferry" ] || { echo "no release build of ferry at $ferry" >&2; exit 69; }
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 69; }
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -std=gnu11 -pthread -Wno-unused-function -I"$peers/src" -o "$work/bench_redis" "$peers/src/bench_redis.c" -lhiredis
count=$((rate * 10))
ferryd_args=()
[ -n "${FERRYD:-}" ] && ferryd_args=(--ferryd "$FERRYD")

redis_round() {
    mkdir -p "$work/data"
    redis-server "$peers/conf/redis-$mode.conf" --port "$port" --dir "$work/data" --pidfile "" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    "$work/bench_redis" -s redis -m "$mode" -H 127.0.0.1 -n "$count" -w 1000 -b 256 -l 100 -d 80 \
        -r "$rate" -L 1000 -S 0 -p "$port" 2>/dev/null || echo "redis $mode $rate NA NA NA NA NA NA"
    kill "$server"
    wait "$server" 2>/dev/null || true
    rm -rf "$work/data"
}

echo "# system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps   (RATE=$rate N=$count, $rounds rounds)"
for _ in $(seq "$rounds"); do
    redis_round | tee -a "$work/lines"
    "$ferry" bench peers --spawn --fsync "$policy" --rate "$rate" --quiet "${ferryd_args[@]}" 2>/dev/null | grep -v '^#' | tee -a "$work/lines" || true
done
awk -v mode="$mode" -v policy="$policy" '
    $1 == "redis" { redis = $6; next }
    $1 == "ferry" && redis != "" {
        rounds++
        if ($6 + 0 < redis + 0) below++
        redis = ""
    }
    END { printf "# ferry %s p99 below redis %s in %d of %d rounds\n", policy, mode, below, rounds }
' "$work/lines"
