#!/usr/bin/env bash
# What ferryd's HTTP side costs and what it can do (README.md beside this script).
#
# 1. listener: `ferry bench peers` against a ferryd this script starts (fresh data directory,
#    HTTP on an ephemeral loopback port), at saturation and at a fixed rate, for each fsync mode,
#    in interleaved rounds (the order of the variants alternating from round to round), in two
#    variants: `quiet` (HTTP listening, nobody calling) and `watched` (a real Prometheus scraping
#    /metrics every second, and a console loop that every 2 s GETs /console, /api/v1/topics and
#    /api/v1/groups). Each watched run also says how many scrapes and console requests succeeded
#    while the bench ran (a `check` line), so that the variant is not silently idle.
# 2. publish: HTTP publish throughput over keep-alive connections (load.py, Python's stdlib
#    http.client): one connection with one event per POST; CONNECTIONS connections in threads;
#    NDJSON batches of BATCH lines on one connection; each for DURATION seconds against a fresh
#    ferryd, every reply checked, and the topic's event count checked against the confirmed count.
#
# Prints every line as it comes, then summarize.py's medians, ratios and a markdown summary.
#
# Usage: [BIN_DIR=.build/release] [ROUNDS=3] [MODES="never batch"] [RATE=10000] [SAT_N=3000000]
#        [RATE_N=] [HTTP_MODES="batch never"] [KINDS="single concurrent ndjson"] [DURATION=10]
#        [CONNECTIONS=4] [BATCH=1000] [PARTS="listener publish"] [PROM_RULES=1] [OUT=file]
#        Benchmarks/http/run.sh
# Smoke test: BIN_DIR=.build/debug ROUNDS=1 DURATION=2 SAT_N=20000 RATE=1000 RATE_N=2000 \
#             MODES=never HTTP_MODES=never Benchmarks/http/run.sh
# Needs ferry and ferryd built with HTTP (swift build -c release --product ferryd; --product
# ferry), curl, python3, and for the listener part Debian's prometheus (installed if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${BIN_DIR:-$root/.build/release}
[ -d "$bin" ] || bin=$root/$bin
bin=$(cd "$bin" && pwd)
rounds=${ROUNDS:-3}
modes=${MODES:-never batch}
rate=${RATE:-10000}
sat_n=${SAT_N:-3000000}
rate_n=${RATE_N:-}
http_modes=${HTTP_MODES:-batch never}
kinds=${KINDS:-single concurrent ndjson}
duration=${DURATION:-10}
connections=${CONNECTIONS:-4}
batch=${BATCH:-1000}
parts=${PARTS:-listener publish}
prom_rules=${PROM_RULES:-1}
console_interval=${CONSOLE_INTERVAL:-2}
python=${PYTHON:-python3}

for tool in curl "$python"; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 69; }
done
[ -x "$bin/ferry" ] && [ -x "$bin/ferryd" ] || {
    echo "no ferry and ferryd in $bin (swift build -c release --product ferryd; --product ferry)" >&2
    exit 69
}
"$bin/ferryd" --help 2>&1 | grep -q -- --http-endpoint-file || {
    echo "$bin/ferryd serves no HTTP (an older build?): rebuild it, or BIN_DIR=..." >&2
    exit 69
}
if [[ " $parts " == *" listener "* ]] && ! command -v prometheus >/dev/null; then
    echo "== installing Debian's prometheus" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2
    command -v prometheus >/dev/null || { echo "prometheus is needed (apt-get install prometheus)" >&2; exit 69; }
fi

work=$(mktemp -d)
pids=() # every process this script started and has not stopped yet
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
lines=$work/lines
: >"$lines"
log() { echo "$*" | tee -a "$lines"; }

forget() { # pid: no longer ours to stop
    local keep=() p
    for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    pids=("${keep[@]+"${keep[@]}"}")
}

stop() { # pid: SIGTERM, then SIGKILL after 10 s
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget "$pid"
}

tracked() { # command...: run it in the background, so that the exit trap can stop it, and wait
    local pid rc=0
    "$@" &
    pid=$!
    pids+=("$pid")
    wait "$pid" || rc=$?
    forget "$pid"
    return "$rc"
}

wait_for() { # what deadline_s command...: until the command succeeds
    local what=$1 deadline=$(($(date +%s) + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -gt "$deadline" ]; then echo "timed out waiting for $what" >&2; return 1; fi
        sleep 0.1
    done
}

# ferryd on ephemeral ports in a fresh directory: sets ferryd_pid, zmq (tcp://…), http (HOST:PORT)
start_ferryd() { # dir mode
    local dir=$1 mode=$2
    mkdir -p "$dir"
    "$bin/ferryd" --endpoint tcp://127.0.0.1:0 --endpoint-file "$dir/endpoint" --data-dir "$dir/data" \
        --fsync "$mode" --http-endpoint 127.0.0.1:0 --http-endpoint-file "$dir/http" --log-level warning \
        --exit-with-parent >>"$dir/ferryd.log" 2>&1 &
    ferryd_pid=$!
    pids+=("$ferryd_pid")
    if ! wait_for "ferryd's endpoints" 60 grep -qE '^tcp://127\.0\.0\.1:[0-9]+$' "$dir/endpoint" ||
        ! wait_for "ferryd's HTTP endpoint" 60 grep -qE '^127\.0\.0\.1:[0-9]+$' "$dir/http"; then
        cat "$dir/ferryd.log" >&2
        exit 1
    fi
    zmq=$(cat "$dir/endpoint")
    http=$(cat "$dir/http")
    wait_for "ferryd's /readyz" 60 curl -sf "http://$http/readyz" || { cat "$dir/ferryd.log" >&2; exit 1; }
}

# Prometheus on loopback with a fresh TSDB, scraping $http every second: sets prometheus_pid, prometheus
start_prometheus() { # dir
    local dir=$1 port
    mkdir -p "$dir"
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    {
        echo "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}"
        [ "$prom_rules" = 1 ] && echo "rule_files: [\"$root/deploy/prometheus/ferry-alerts.yml\"]"
        echo "scrape_configs:"
        echo "  - {job_name: ferryd, metrics_path: /metrics, static_configs: [{targets: [\"$http\"]}]}"
    } >"$dir/prometheus.yml"
    prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn >>"$dir/prometheus.log" 2>&1 &
    prometheus_pid=$!
    pids+=("$prometheus_pid")
    prometheus=http://127.0.0.1:$port
    wait_for "Prometheus to be ready" 60 curl -sf "$prometheus/-/ready" || { cat "$dir/prometheus.log" >&2; exit 1; }
    tracked "$python" "$here/load.py" wait-scraped "$prometheus" --deadline 30 || { cat "$dir/prometheus.log" >&2; exit 1; }
}

now() { date +%s.%N; }

show_log() { # name file: what a server said (warnings and up), on stderr
    [ -s "$2" ] || return 0
    grep -v 'Received SIGTERM, exiting gracefully' "$2" | head -5 | sed "s/^/#   $1: /" >&2 || true
}

# One `ferry bench peers` run against a fresh ferryd, quiet or watched.
run_bench() { # round variant mode workload
    local round=$1 variant=$2 mode=$3 workload=$4
    local dir=$work/run-$round-$variant-$mode-$workload args line rc=0 t0 t1 console_pid check
    rm -rf "$dir"
    start_ferryd "$dir" "$mode"
    if [ "$variant" = watched ]; then
        start_prometheus "$dir/prometheus"
        "$python" "$here/load.py" console "http://$http" "$dir/console.log" --interval "$console_interval" &
        console_pid=$!
        pids+=("$console_pid")
        wait_for "the console loop's first tick" 30 grep -q ' /api/v1/groups$' "$dir/console.log"
    fi
    args=(bench peers --broker "$zmq" --mode "$mode" -q)
    if [ "$workload" = rate ]; then
        args+=(--rate "$rate" ${rate_n:+-n "$rate_n"})
    else
        args+=(-n "$sat_n")
    fi
    t0=$(now)
    tracked "$bin/ferry" "${args[@]}" >"$dir/bench.out" 2>"$dir/bench.err" || rc=$?
    t1=$(now)
    line=$(grep -E '^ferry ' "$dir/bench.out" | tail -1) || true
    [ -n "$line" ] || { line="ferry $mode NA"; sed 's/^/#   bench: /' "$dir/bench.err" >&2; }
    [ "$rc" = 0 ] || echo "#   bench exited $rc" >&2
    log "round$round $workload ${line/#ferry /$variant }"
    if [ "$variant" = watched ]; then
        check="bench_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
        check+=" $("$python" "$here/load.py" prometheus-count "$prometheus" "$t0" "$t1")"
        check+=" $("$python" "$here/load.py" console-count "$dir/console.log" "$t0" "$t1")"
        log "check round$round $workload $variant $mode $check"
        stop "$console_pid"
        stop "$prometheus_pid"
        show_log prometheus "$dir/prometheus/prometheus.log"
    fi
    stop "$ferryd_pid"
    show_log ferryd "$dir/ferryd.log"
    rm -rf "$dir"
}

{
    echo "# meta date=$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "# meta commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || echo +dirty)"
    echo "# meta nproc=$(nproc)"
    echo "# meta kernel=$(uname -r)"
    echo "# meta cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' | tr ' ' '_')"
    echo "# meta bin=${bin#"$root"/}"
    echo "# meta rate=$rate"
    echo "# meta sat_n=$sat_n"
    echo "# meta prometheus=$(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
    echo "# meta command=BIN_DIR=${bin#"$root"/} ROUNDS=$rounds MODES=\"$modes\" RATE=$rate SAT_N=$sat_n${rate_n:+ RATE_N=$rate_n} HTTP_MODES=\"$http_modes\" KINDS=\"$kinds\" DURATION=$duration CONNECTIONS=$connections BATCH=$batch PARTS=\"$parts\" Benchmarks/http/run.sh"
} >>"$lines"

if [[ " $parts " == *" listener "* ]]; then
    echo "== 1. the HTTP listener and the ZeroMQ path: $rounds rounds, modes $modes, saturation (N=$sat_n) and $rate ev/s" >&2
    for round in $(seq 1 "$rounds"); do
        for workload in saturation rate; do
            for mode in $modes; do
                if [ $((round % 2)) = 1 ]; then order="quiet watched"; else order="watched quiet"; fi
                for variant in $order; do run_bench "$round" "$variant" "$mode" "$workload"; done
            done
        done
    done
fi

if [[ " $parts " == *" publish "* ]]; then
    echo "== 2. HTTP publish: ${duration}s each, modes $http_modes, $kinds (connections $connections, batch $batch)" >&2
    for mode in $http_modes; do
        for kind in $kinds; do
            dir=$work/publish-$mode-$kind
            start_ferryd "$dir" "$mode"
            tracked "$python" "$here/load.py" publish "http://$http" --mode "$mode" --kind "$kind" \
                --connections "$connections" --batch "$batch" --duration "$duration" --pid "$ferryd_pid" \
                >"$dir/result" || true
            result=$(grep '^http-publish ' "$dir/result") || true
            [ -n "$result" ] || result="http-publish mode=$mode kind=$kind failed"
            log "$result"
            stop "$ferryd_pid"
            show_log ferryd "$dir/ferryd.log"
            rm -rf "$dir"
        done
    done
fi

echo >&2
summary=$("$python" "$here/summarize.py" "$lines")
echo "$summary"
if [ -n "${OUT:-}" ]; then
    { cat "$lines"; echo; echo "$summary"; } >"$OUT"
    echo "(lines and summary written to $OUT)" >&2
fi
