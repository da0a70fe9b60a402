#!/usr/bin/env bash
# The latency-versus-rate curve of Ferry and its peers: for each rate, the peers' fixed-rate run
# (../shared/peers/run.sh with RATE=...), the zero-work libzmq floor without and with fdatasync
# (Benchmarks/zmq-ack-floor) and `ferry bench sweep` at that rate for never, batch and always,
# one after the other so that each rate's runs sit close in time; then the saturation runs of the
# peers and of Ferry. Every result line goes to OUT/results.txt, and plot.py draws
# OUT/latency-no-fsync.svg and OUT/latency-fsync.svg from it.
#
# Usage: [RATES="1000 5000 ..."] [SYSTEMS="zmq redis nats nats210 rabbitmq"] [FLOOR=0] [FLOOR_PORT=17501] run.sh [OUT]
#   OUT defaults to docs/performance/curve. Needs release builds of ferry and ferryd, and what
#   ../shared/peers/run.sh installs (it apt-gets the peers). About 25 minutes for the default rates.
#   PLOT_ONLY=1 redraws the charts from OUT/results.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${PEERS_DIR:-$root/../shared/peers}
out=${1:-$root/docs/performance/curve}
rates=${RATES:-1000 5000 10000 25000 50000 100000 200000}
ferry=$root/.build/release/ferry
mkdir -p "$out"
results=$out/results.txt
floor_port=${FLOOR_PORT:-17501}

plot() {
    local venv=$here/.venv
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q -r "$here/requirements.txt"
    fi
    "$venv/bin/python" "$here/plot.py" "$out" "$results"
    echo "charts: $out/latency-no-fsync.svg $out/latency-fsync.svg" >&2
}

if [ "${PLOT_ONLY:-0}" = 1 ]; then
    plot
    exit 0
fi
[ -x "$ferry" ] && [ -x "$root/.build/release/ferryd" ] || {
    echo "release builds are needed: swift build -c release --product ferryd && swift build -c release --product ferry" >&2
    exit 69
}
logs=$(mktemp -d)
# The floor's broker starts inside a pipeline (a subshell): its pid goes to a file that the exit
# trap reads. The results build up in a new file, which replaces results.txt only when complete.
trap 'xargs -r kill 2>/dev/null <"$logs/pids" || true; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM
: >"$logs/pids"
if (exec 3<>"/dev/tcp/127.0.0.1/$floor_port") 2>/dev/null; then
    echo "port $floor_port is in use (a server left from another run?); FLOOR_PORT picks another" >&2
    exit 69
fi
partial=$logs/results.txt

if [ "${FLOOR:-1}" = 1 ]; then
    cc -O2 -std=gnu11 -pthread -o "$logs/ackbroker" "$root/Benchmarks/zmq-ack-floor/ackbroker.c" -lzmq
    cc -O2 -std=gnu11 -pthread -Wno-unused-function -I"$peers/src" -o "$logs/bench_ack" "$root/Benchmarks/zmq-ack-floor/bench_ack.c" -lzmq
fi
floor() { # mode rate
    [ "${FLOOR:-1}" = 1 ] || return 0
    local file=()
    [ "$1" = strict ] && file=("$logs/floor.log")
    "$logs/ackbroker" "$floor_port" "${file[@]}" 2>/dev/null &
    floor_pid=$!
    echo "$floor_pid" >>"$logs/pids"
    "$logs/bench_ack" -s zmq-ack-floor -m "$1" -H 127.0.0.1 -n $(($2 * 10)) -w 1000 -b 256 -l 100 -d 120 \
        -r "$2" -p "$floor_port" -x shared 2>/dev/null | grep -v '^#' || echo "zmq-ack-floor $1 $2 NA NA NA NA NA NA"
    kill "$floor_pid" 2>/dev/null || true
    wait "$floor_pid" 2>/dev/null || true
    rm -f "$logs/floor.log"
}

{
    echo "# latency-versus-rate: $(nproc) CPUs, kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), ferry $(git -C "$root" rev-parse --short HEAD)"
    echo "# system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps   (fixed rate, N = RATE x 10)"
    echo "# system mode publish_eps e2e_eps p50_us p99_us p999_us                   (saturation)"
} >"$partial"
for rate in $rates; do
    echo "[$(date +%T)] rate $rate" >&2
    RATE=$rate bash "$peers/run.sh" 2>>"$logs/peers.log" | grep -v '^#' | grep . | tee -a "$partial" ||
        echo "# the peers' run at $rate events/s failed" | tee -a "$partial"
    { floor none "$rate"; floor strict "$rate"; } | grep . | tee -a "$partial" || true
    "$ferry" bench sweep --rates "$rate" --no-saturation 2>>"$logs/ferry.log" | grep -v '^#' | tee -a "$partial" ||
        echo "# ferry bench sweep at $rate events/s failed" | tee -a "$partial"
done
echo "[$(date +%T)] saturation" >&2
bash "$peers/run.sh" 2>>"$logs/peers.log" | grep -v '^#' | grep . | tee -a "$partial" ||
    echo "# the peers' saturation run failed" | tee -a "$partial"
"$ferry" bench sweep --rates "" 2>>"$logs/ferry.log" | grep -v '^#' | tee -a "$partial" ||
    echo "# ferry bench sweep at saturation failed" | tee -a "$partial"
mv "$partial" "$results"
plot
