"""How late scheduled events arrive, with a million more waiting in the schedule.

1. Starts ferryd (durable log, the given --fsync) on a free loopback port in a fresh directory.
2. Stores BACKLOG events due an hour or more ahead (they never fire during the run), and
   reports the scheduling rate and ferryd's resident memory before and after.
3. Schedules PROBES events spread evenly over SPREAD seconds starting LEAD seconds ahead
   (PROBES / SPREAD per second: moderate load), each carrying its due time; one consumer
   acknowledges them and records how late each arrived: its arrival at the consumer minus
   the time it was due (wall clock, same machine).
4. Prints the lateness distribution (and the broker's own lateness histogram: due to appended).

Usage: bench.py FERRYD [--backlog N] [--probes N] [--spread S] [--fsync batch|always|never]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
from ferry_client import FerryClient, commands_pb2 as pb, make_event  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * (len(sorted_values) - 1)))))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ferryd")
    parser.add_argument("--backlog", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=20_000)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--lead", type=float, default=3.0)
    parser.add_argument("--fsync", default="batch")
    options = parser.parse_args()

    work = tempfile.mkdtemp(prefix="ferry-schedule-bench-")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    log = open(os.path.join(work, "ferryd.log"), "wb")
    ferryd = subprocess.Popen(
        [options.ferryd, "--endpoint", endpoint, "--data-dir", os.path.join(work, "data"), "--fsync", options.fsync,
         "--trace", "off", "--exit-with-parent", "--log-level", "warning", "--endpoint-file", os.path.join(work, "endpoint")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        ready_by = time.monotonic() + 60
        while not os.path.exists(os.path.join(work, "endpoint")):
            if ferryd.poll() is not None or time.monotonic() > ready_by:
                sys.exit(f"ferryd did not start: see {work}/ferryd.log")
            time.sleep(0.05)
        client = FerryClient(endpoint, "schedule-bench")
        rss_before = rss_mib(ferryd.pid)
        # 2. The backlog: due an hour and more ahead, in chunks of distinct due times.
        started = time.monotonic()
        chunk = 10_000
        far = time.time() + 3600
        for first in range(0, options.backlog, chunk):
            events = [make_event("bench.backlog", f"b{n}", b"x" * 100, key=f"k{n % 1000}")
                      for n in range(first, min(first + chunk, options.backlog))]
            client.schedule(events, at=far + first / 1000, batch_size=1000, window=8, timeout=60)
        backlog_seconds = time.monotonic() - started
        stats = client.stats()
        rss_after = rss_mib(ferryd.pid)
        print(f"backlog: {options.backlog} events scheduled in {backlog_seconds:.1f} s "
              f"({options.backlog / max(backlog_seconds, 1e-9):,.0f}/s); ferryd RSS {rss_before:.0f} MiB before, "
              f"{rss_after:.0f} MiB after; stats.scheduled_events={stats.scheduled_events}", flush=True)

        # 3. The probes: due from LEAD s ahead, evenly over SPREAD s, scheduled in one go.
        client.subscribe("bench-probes", "bench.probe", max_in_flight=1000)
        start = time.time() + options.lead
        step = options.spread / options.probes
        # Each item carries its own deliver_at_us (protocol section 5.14): batches of 1000 sent
        # back to back, then their results collected.
        dues, requests, sequence = {}, [], 0
        scheduled_at = time.time()
        for first in range(0, options.probes, 1000):
            publish = pb.Publish()
            for n in range(first, min(first + 1000, options.probes)):
                sequence += 1
                dues[f"p{n}"] = start + n * step
                item = publish.items.add(sequence=sequence, deliver_at_us=int((start + n * step) * 1_000_000))
                item.event.CopyFrom(make_event("bench.probe", f"p{n}", b"probe", key=f"p{n % 64}"))
            requests.append(client._send_command("publish", publish, 30))
        for request_id in requests:
            result = client._wait_reply(request_id, "publish_result", 30)
            if result.rejected:
                sys.exit(f"probes rejected: {result.rejected[0]}")
        scheduling_seconds = time.time() - scheduled_at
        if time.time() > start:
            print(f"warning: scheduling the probes took {scheduling_seconds:.1f} s, past the first due time", flush=True)
        lateness_ms = []
        deadline = time.time() + options.lead + options.spread + 30
        while len(lateness_ms) < options.probes and time.time() < deadline:
            deliveries = client.receive_batch(1000, timeout=0.5)
            now = time.time()
            for delivery in deliveries:
                due = dues.get(delivery.event.id, now)
                lateness_ms.append((now - due) * 1000)
            if deliveries:
                client.ack(*deliveries)
        lateness_ms.sort()
        prometheus = client.stats().prometheus_text
        client.close()
        print(f"probes: {len(lateness_ms)} of {options.probes} received, {options.probes / options.spread:,.0f}/s due, "
              f"with {options.backlog} more waiting; fsync {options.fsync}", flush=True)
        print("lateness at the consumer (ms): " + "  ".join(
            f"p{int(q * 100) if q < 0.999 else 99.9}={percentile(lateness_ms, q):.2f}"
            for q in (0.0, 0.5, 0.9, 0.99, 0.999)) + f"  max={lateness_ms[-1] if lateness_ms else float('nan'):.2f}", flush=True)
        early = sum(1 for value in lateness_ms if value < -1.0)
        print(f"early by more than 1 ms: {early}", flush=True)
        buckets = re.findall(r'ferry_schedule_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)', prometheus)
        if buckets:
            print("broker (due → appended), cumulative: " + "  ".join(f"≤{le}s:{count}" for le, count in buckets), flush=True)
    finally:
        ferryd.terminate()
        try:
            ferryd.wait(10)
        except subprocess.TimeoutExpired:
            ferryd.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
