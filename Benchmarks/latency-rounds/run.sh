#!/usr/bin/env bash
# Ferry's latency at a fixed rate beside the zero-work libzmq floor, in interleaved rounds: one
# run on a 2-vCPU VM says little about a p99, many rounds taken side by side do. Each round runs,
# in an order that rotates from round to round, the floor without and with fdatasync
# (Benchmarks/zmq-ack-floor: MODE=none and MODE=strict), `ferry bench peers --fsync never`,
# `batch` and `always` at the same rate, and, with REDIS=1, Redis Streams default and strict (the
# peers' client and config). With FERRYD_B=<ferryd binary>, each Ferry mode also runs that build
# (systems `ferry-b`): an A/B of two builds against the same floor.
#
# Prints every result line (the peers' fixed-rate format) prefixed with the round, then per system
# and mode the median p50/p99 over the rounds and the median of each round's ratio of p99 to its
# floor (`never` and Redis default against MODE=none; `batch`, `always` and Redis strict against
# MODE=strict). The rounds' lines stay in $OUT (default: a temporary file, printed at the end).
#
# Usage: [FERRYD=...] [FERRYD_B=...] [REDIS=1] [MODES="never batch always"] run.sh [ROUNDS] [RATE]
# Needs libzmq3-dev, ../shared/peers (or PEERS_DIR), release builds of ferry and ferryd, and for
# REDIS=1 redis-server and libhiredis-dev.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS_DIR:-$root/../shared/peers}
rounds=${1:-5}
rate=${2:-10000}
ferry=${FERRY:-$root/.build/release/ferry}
ferryd=${FERRYD:-$root/.build/release/ferryd}
modes=${MODES:-never batch always}
floor_port=${FLOOR_PORT:-17501}
redis_port=${REDIS_PORT:-17301}
count=$((rate * 10))
[ -x "$ferry" ] && [ -x "$ferryd" ] || { echo "release builds of ferry and ferryd are needed (swift build -c release --product ferryd; --product ferry)" >&2; exit 69; }
work=$(mktemp -d)
out=${OUT:-$work/lines}
# The servers start inside command substitutions (subshells): their pids go to a file that the
# exit trap reads, so that an interrupted run leaves no ackbroker or redis-server on its port.
trap 'xargs -r kill 2>/dev/null <"$work/pids" || true; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
: >"$work/pids"
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$floor_port" ${REDIS:+"$redis_port"}; do
    if port_in_use "$port"; then echo "port $port is in use (a server left from another run?)" >&2; exit 69; fi
done
cc -O2 -std=gnu11 -pthread -o "$work/ackbroker" "$root/Benchmarks/zmq-ack-floor/ackbroker.c" -lzmq
cc -O2 -std=gnu11 -pthread -Wno-unused-function -I"$peers/src" -o "$work/bench_ack" "$root/Benchmarks/zmq-ack-floor/bench_ack.c" -lzmq
if [ "${REDIS:-0}" = 1 ]; then
    cc -O2 -std=gnu11 -pthread -Wno-unused-function -I"$peers/src" -o "$work/bench_redis" "$peers/src/bench_redis.c" -lhiredis
fi

floor() { # mode
    local file=()
    [ "$1" = strict ] && file=("$work/floor.log")
    "$work/ackbroker" "$floor_port" "${file[@]}" 2>/dev/null &
    server=$!
    echo "$server" >>"$work/pids"
    "$work/bench_ack" -s zmq-ack-floor -m "$1" -H 127.0.0.1 -n "$count" -w 1000 -b 256 -l 100 -d 120 \
        -r "$rate" -p "$floor_port" -x shared 2>/dev/null || echo "zmq-ack-floor $1 $rate NA NA NA NA NA NA"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$work/floor.log"
}

redis() { # default|strict
    mkdir -p "$work/data"
    redis-server "$peers/conf/redis-$1.conf" --port "$redis_port" --dir "$work/data" --pidfile "" >"$work/server.log" 2>&1 &
    server=$!
    echo "$server" >>"$work/pids"
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.05; done
    "$work/bench_redis" -s redis -m "$1" -H 127.0.0.1 -n "$count" -w 1000 -b 256 -l 100 -d 80 \
        -r "$rate" -L 1000 -S 0 -p "$redis_port" 2>/dev/null || echo "redis $1 $rate NA NA NA NA NA NA"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work/data"
}

ferry_run() { # name binary mode
    local line
    line=$("$ferry" bench peers --spawn --ferryd "$2" --fsync "$3" --rate "$rate" --quiet 2>/dev/null | grep -v '^#' | tail -1) || true
    [ -n "$line" ] || line="ferry $3 $rate NA NA NA NA NA NA"
    echo "$line" | awk -v name="$1" '{ $1 = name; print }'
}

jobs=("floor none" "floor strict")
for mode in $modes; do
    jobs+=("ferry_run ferry $ferryd $mode")
    [ -n "${FERRYD_B:-}" ] && jobs+=("ferry_run ferry-b $FERRYD_B $mode")
done
[ "${REDIS:-0}" = 1 ] && jobs+=("redis default" "redis strict")

echo "# round system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps   (RATE=$rate N=$count, $rounds rounds)"
for round in $(seq "$rounds"); do
    n=${#jobs[@]}
    for i in $(seq 0 $((n - 1))); do
        job=${jobs[$(((i + round - 1) % n))]}
        # shellcheck disable=SC2086
        line=$($job | grep -v '^#' | grep -v '^$' | tail -1) || true
        [ -n "$line" ] || { echo "# round $round: $job printed nothing" >&2; continue; }
        echo "$round $line" | tee -a "$out"
    done
done

awk '
    function median(list,   n, a, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n == 0 ? "NA" : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
    }
    $5 == "NA" { next }
    {
        key = $2 " " $3
        p50[key] = p50[key] " " $5; p99[key] = p99[key] " " $7
        if ($2 == "zmq-ack-floor") floor[$1 " " $3] = $7
        else row[NR] = $0
        seen[key] = 1
    }
    END {
        for (r in row) {
            split(row[r], f, " ")
            base = (f[3] == "never" || f[3] == "default" || f[3] == "memory") ? "none" : "strict"
            if ((f[1] " " base) in floor) ratio[f[2] " " f[3]] = ratio[f[2] " " f[3]] " " sprintf("%.2f", f[7] / floor[f[1] " " base])
        }
        printf "# system mode  median_p50_us median_p99_us  median_p99_over_floor\n"
        for (key in seen) printf "%s  %s %s  %s\n", key, median(p50[key]), median(p99[key]), (key in ratio) ? median(ratio[key]) : "-"
    }
' "$out" | sort
