"""The HTTP side of Benchmarks/http/run.sh, Python's standard library only.

    load.py console BASE LOG [--interval S]
        The console left open: every S seconds (2) GET /console, /api/v1/topics and
        /api/v1/groups on one keep-alive connection, one line per request in LOG
        (`epoch_s status latency_ms path`), until SIGTERM.
    load.py console-count LOG START END
        What the console loop got between START and END (epoch seconds).
    load.py wait-scraped PROMETHEUS [--deadline S]
        Wait until Prometheus has scraped job="ferryd" successfully once.
    load.py prometheus-count PROMETHEUS START END
        What Prometheus scraped from job="ferryd" between START and END.
    load.py publish BASE --mode MODE --kind single|concurrent|ndjson [--connections C]
                    [--batch B] [--duration S] [--payload-bytes N] [--pid FERRYD_PID]
        Publish over HTTP for S seconds (keep-alive connections, one thread each), check every
        reply, then check the topic holds what was confirmed (GET /api/v1/topics); prints one
        `http-publish key=value ...` line.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import resource
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request


def split_base(base: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(base if "://" in base else f"http://{base}")
    return parsed.hostname or "127.0.0.1", parsed.port or 80


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank, as ferry bench reports them."""
    if not ordered:
        return float("nan")
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# The console left open

def console(base: str, log_path: str, interval: float) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    host, port = split_base(base)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    paths = ["/console", "/api/v1/topics", "/api/v1/groups"]
    with open(log_path, "a", buffering=1) as log:
        next_tick = time.monotonic()
        while not stop.is_set():
            for path in paths:
                started = time.perf_counter()
                try:
                    connection.request("GET", path, headers={"Accept": "*/*"})
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = 0
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=10)
                log.write(f"{time.time():.3f} {status} {(time.perf_counter() - started) * 1000:.2f} {path}\n")
            next_tick += interval
            stop.wait(max(0.0, next_tick - time.monotonic()))
    connection.close()


def console_count(log_path: str, start: float, end: float) -> None:
    ok = total = 0
    latencies = []
    with open(log_path) as log:
        for line in log:
            parts = line.split()
            if len(parts) < 4 or not start <= float(parts[0]) <= end:
                continue
            total += 1
            ok += parts[1] == "200"
            latencies.append(float(parts[2]))
    latencies.sort()
    print(f"console_ok={ok} console={total} console_p50_ms={percentile(latencies, 0.5):.1f} "
          f"console_max_ms={(latencies[-1] if latencies else float('nan')):.1f}")


# Prometheus

def prometheus_query(base: str, expression: str, at: float | None = None) -> list:
    parameters = {"query": expression}
    if at is not None:
        parameters["time"] = f"{at:.3f}"
    url = f"{base}/api/v1/query?{urllib.parse.urlencode(parameters)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError(f"{expression}: {answer}")
    return answer["data"]["result"]


def prometheus_scalar(base: str, expression: str, at: float | None = None) -> float:
    try:
        result = prometheus_query(base, expression, at)
    except (OSError, RuntimeError, ValueError):
        return float("nan")
    return float(result[0]["value"][1]) if result else float("nan")


def wait_scraped(base: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if prometheus_scalar(base, 'up{job="ferryd"}') == 1:
            return
        time.sleep(0.2)
    sys.exit(f"Prometheus at {base} scraped no ferryd within {deadline_s:.0f} s")


def prometheus_count(base: str, start: float, end: float) -> None:
    window = f"[{max(1, math.ceil((end - start) * 1000))}ms]"
    total = prometheus_scalar(base, f'count_over_time(up{{job="ferryd"}}{window})', end)
    ok = prometheus_scalar(base, f'sum_over_time(up{{job="ferryd"}}{window})', end)
    samples = prometheus_scalar(base, f'sum_over_time(scrape_samples_scraped{{job="ferryd"}}{window})', end)
    slowest = prometheus_scalar(base, f'max_over_time(scrape_duration_seconds{{job="ferryd"}}{window})', end)
    published = prometheus_scalar(base, f'sum(max_over_time(ferry_events_published_total{{job="ferryd"}}{window}))', end)
    print(f"scrapes_ok={ok:.0f} scrapes={total:.0f} samples={samples:.0f} scrape_max_ms={slowest * 1000:.1f} "
          f"published_seen={published:.0f}")


# HTTP publish

def payload(sequence: int, size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (compact, as the gateway re-encodes it)."""
    head = '{"seq":"%012d","pad":"' % sequence
    return (head + "x" * max(0, size - len(head) - 2) + '"}').encode()


class Worker(threading.Thread):
    def __init__(self, base: str, topic: str, kind: str, batch: int, size: int, deadline: float, index: int):
        super().__init__(daemon=True)
        self.host, self.port = split_base(base)
        self.path = f"/api/v1/topics/{topic}/events"
        self.kind, self.batch, self.size, self.deadline, self.index = kind, batch, size, deadline, index
        self.confirmed = 0
        self.failures: dict[str, int] = {}
        self.latencies: list[float] = []
        self.requests = 0

    def fail(self, what: str, events: int) -> None:
        self.failures[what] = self.failures.get(what, 0) + events

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sequence = self.index * 10**9
        if self.kind == "ndjson":
            # A few prebuilt bodies: building 1000 lines per request would measure the client.
            bodies = [b"".join(b'{"payload":' + payload(sequence + b * self.batch + n, self.size) + b"}\n"
                              for n in range(self.batch)) for b in range(4)]
            headers = {"Content-Type": "application/x-ndjson"}
        else:
            headers = {"Content-Type": "application/json"}
        while time.monotonic() < self.deadline:
            if self.kind == "ndjson":
                body, events = bodies[self.requests % len(bodies)], self.batch
            else:
                body, events = payload(sequence, self.size), 1
                sequence += 1
            started = time.perf_counter()
            try:
                connection.request("POST", self.path, body, headers)
                response = connection.getresponse()
                reply = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.fail(type(error).__name__, events)
                connection.close()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                continue
            elapsed = time.perf_counter() - started
            self.requests += 1
            if self.kind == "ndjson":
                if response.status != 200:
                    self.fail(str(response.status), events)
                    continue
                stored = reply.count(b'"offset":')
                lines = reply.count(b"\n") + (0 if reply.endswith(b"\n") or not reply else 1)
                if lines != events or stored != events:
                    self.fail("lines", events - stored)
                self.confirmed += stored
            else:
                if response.status != 201 or b'"offset":' not in reply:
                    self.fail(str(response.status), 1)
                    continue
                self.confirmed += 1
            self.latencies.append(elapsed)
        connection.close()


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def topic_events(base: str, topic: str) -> int:
    with urllib.request.urlopen(f"{base}/api/v1/topics", timeout=30) as response:
        topics = json.load(response)["topics"]
    return next((t["events"] for t in topics if t["name"] == topic), 0)


def publish(arguments: argparse.Namespace) -> None:
    base = arguments.base if "://" in arguments.base else f"http://{arguments.base}"
    kind = arguments.kind
    connections = arguments.connections if kind == "concurrent" else 1
    batch = arguments.batch if kind == "ndjson" else 1
    topic = f"http-bench.{kind}"
    # Warm up (the gateway's connection to the broker, the topic's first segment) on another topic.
    warm = [Worker(base, f"http-bench.warmup-{kind}", kind, min(batch, 10), arguments.payload_bytes,
                   time.monotonic() + arguments.warmup, n) for n in range(connections)]
    for worker in warm:
        worker.start()
    for worker in warm:
        worker.join()

    workers = []
    cpu_before, ferryd_before = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(arguments.pid)
    started = time.monotonic()
    deadline = started + arguments.duration
    for n in range(connections):
        workers.append(Worker(base, topic, kind, batch, arguments.payload_bytes, deadline, n))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    cpu_after, ferryd_after = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(arguments.pid)

    confirmed = sum(w.confirmed for w in workers)
    requests = sum(w.requests for w in workers)
    failures: dict[str, int] = {}
    for worker in workers:
        for what, count in worker.failures.items():
            failures[what] = failures.get(what, 0) + count
    latencies = sorted(latency for w in workers for latency in w.latencies)
    stored = topic_events(base, topic)
    client_cpu = (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime) / elapsed
    ferryd_cpu = (ferryd_after - ferryd_before) / elapsed
    print(f"http-publish mode={arguments.mode} kind={kind} connections={connections} batch={batch} "
          f"seconds={elapsed:.2f} requests={requests} confirmed={confirmed} "
          f"failures={sum(failures.values())} failure_kinds={','.join(f'{k}:{v}' for k, v in sorted(failures.items())) or '-'} "
          f"eps={confirmed / elapsed:.0f} p50_us={percentile(latencies, 0.5) * 1e6:.0f} "
          f"p99_us={percentile(latencies, 0.99) * 1e6:.0f} stored={stored} "
          f"verified={'yes' if stored == confirmed else 'NO'} "
          f"client_cpu_pct={client_cpu * 100:.0f} ferryd_cpu_pct={ferryd_cpu * 100:.0f}", flush=True)
    if stored != confirmed or failures:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("console")
    c.add_argument("base")
    c.add_argument("log")
    c.add_argument("--interval", type=float, default=2.0)
    c = commands.add_parser("console-count")
    c.add_argument("log")
    c.add_argument("start", type=float)
    c.add_argument("end", type=float)
    c = commands.add_parser("wait-scraped")
    c.add_argument("prometheus")
    c.add_argument("--deadline", type=float, default=60)
    c = commands.add_parser("prometheus-count")
    c.add_argument("prometheus")
    c.add_argument("start", type=float)
    c.add_argument("end", type=float)
    c = commands.add_parser("publish")
    c.add_argument("base")
    c.add_argument("--mode", required=True)
    c.add_argument("--kind", choices=["single", "concurrent", "ndjson"], required=True)
    c.add_argument("--connections", type=int, default=4)
    c.add_argument("--batch", type=int, default=1000)
    c.add_argument("--duration", type=float, default=10)
    c.add_argument("--warmup", type=float, default=0.5)
    c.add_argument("--payload-bytes", type=int, default=100)
    c.add_argument("--pid", type=int)
    arguments = parser.parse_args()
    if arguments.command == "console":
        console(arguments.base, arguments.log, arguments.interval)
    elif arguments.command == "console-count":
        console_count(arguments.log, arguments.start, arguments.end)
    elif arguments.command == "wait-scraped":
        wait_scraped(arguments.prometheus, arguments.deadline)
    elif arguments.command == "prometheus-count":
        prometheus_count(arguments.prometheus, arguments.start, arguments.end)
    else:
        publish(arguments)


if __name__ == "__main__":
    main()
