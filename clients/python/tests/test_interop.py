"""Interop of the Python client with the Swift SDK through a real ``ferryd``: each side publishes
what the other consumes.

Environment: FERRY_INTEROP is the path of the Swift interop tool (default
<repo>/.build/debug/ferry-interop); these tests are skipped if it does not exist.
"""
import json
import os
import subprocess
import time

import pytest

from support import REPO, uid, wait_group_settled  # (also puts the client on sys.path)

from ferry_client import make_event  # noqa: E402

FERRY_INTEROP = os.environ.get("FERRY_INTEROP", str(REPO / ".build" / "debug" / "ferry-interop"))

def interop_binary() -> str:
    if not os.access(FERRY_INTEROP, os.X_OK):
        pytest.skip(f"ferry-interop not built at {FERRY_INTEROP} (set FERRY_INTEROP or build the "
                    "ferry-interop product)")
    return FERRY_INTEROP


def finish(proc: subprocess.Popen, timeout: float):
    """Wait for ``proc``; kill it after ``timeout`` s. Return (exit code or None if killed, stdout, stderr)."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate(timeout=5)
        return None, stdout, stderr


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def test_python_publishes_swift_consumes(endpoint, client):
    tool = interop_binary()
    topic, group = f"interop.py2swift.{uid()}", f"g-py2swift-{uid()}"
    events = [make_event(topic, f"py-{i}", json.dumps({"seq": i, "from": "python"}), key=f"k-{i % 4}",
                         type="PyPing", content_type="application/json") for i in range(200)]
    client.publish(events, batch_size=50)
    proc = subprocess.Popen([tool, "consume", "--endpoint", endpoint, "--group", group, "--topic", topic,
                             "--count", "200", "--timeout-seconds", "10"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    code, stdout, stderr = finish(proc, 15)
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    ids_ok = len(lines) == 200 and {line["id"] for line in lines} == {e.id for e in events}
    assert code is not None, (f"ferry-interop consume did not exit within 15 s (it printed {len(lines)} events, "
                              f"ids {'all' if ids_ok else 'NOT all'} correct); stderr tail:\n{tail(stderr)}")
    assert code == 0, f"ferry-interop consume exited {code}:\n{tail(stderr)}"
    assert ids_ok, f"consumed ids differ: {len(lines)} lines"
    for line in lines:
        i = int(line["id"].split("-")[1])
        assert (line["topic"], line["key"], line["type"]) == (topic, f"k-{i % 4}", "PyPing")
        assert json.loads(line["payload"]) == {"seq": i, "from": "python"}
        assert line["attempt"] >= 1
    stats = wait_group_settled(client, group)
    assert (stats.lag, stats.pending_retries, stats.dead_letters) == (0, 0, 0), stats


def test_swift_publishes_python_consumes(endpoint, client):
    tool = interop_binary()
    topic, group, prefix = f"interop.swift2py.{uid()}", f"g-swift2py-{uid()}", f"sw{uid()}"
    client.subscribe(group, topic, max_in_flight=64)
    proc = subprocess.Popen([tool, "publish", "--endpoint", endpoint, "--topic", topic, "--count", "200",
                             "--prefix", prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        received = {}
        deadline = time.monotonic() + 15
        while len(received) < 200 and time.monotonic() < deadline:
            delivery = client.receive(timeout=0.5)  # keeps heartbeating while Swift publishes
            if delivery is not None:
                received[delivery.event.id] = delivery
                client.ack(delivery)
            elif proc.poll() not in (None, 0):
                break
        client.flush()
    finally:
        code, stdout, stderr = finish(proc, 8)
    assert set(received) == {f"{prefix}-{i}" for i in range(200)}, f"received {len(received)} of 200"
    for i in range(200):
        d = received[f"{prefix}-{i}"]
        assert (d.event.topic, d.event.type, d.event.content_type, d.event.key) == (
            topic, "InteropPing", "application/json", f"k-{i % 4}")
        assert json.loads(d.event.payload) == {"seq": i, "from": "swift"}
    stats = wait_group_settled(client, group)
    assert (stats.lag, stats.pending_retries) == (0, 0), stats
    assert code is not None, (f"ferry-interop publish did not exit within 8 s after Python received all "
                              f"200 events; stdout {stdout!r}; stderr tail:\n{tail(stderr)}")
    assert code == 0, f"ferry-interop publish exited {code}:\n{tail(stderr)}"
    assert json.loads(stdout.strip().splitlines()[-1]) == {"published": 200}
