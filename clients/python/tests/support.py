"""What the Python client's test modules share: paths, the ferryd binary, a ferryd that can be
stopped and started again, and helpers for waiting and receiving.

Environment:
  FERRYD               path of the broker binary (default <repo>/.build/debug/ferryd)
  FERRYD_WAIT_SECONDS  how long to wait for a missing ferryd binary (rebuild in progress), default 15.
"""
import collections
import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Optional

import pytest

CLIENT_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO = CLIENT_DIR.parent.parent
sys.path.insert(0, str(CLIENT_DIR))

from ferry_client import FerryClient  # noqa: E402

FERRYD = os.environ.get("FERRYD", str(REPO / ".build" / "debug" / "ferryd"))
STARTUP_TIMEOUT = 15.0
# A delivery id carries the client session's epoch in its top 16 bits.
EPOCH_SHIFT = 48


def uid() -> str:
    return uuid.uuid4().hex[:10]


def wait_until(predicate, timeout: float, interval: float = 0.02):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes; return the value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def require_ferryd() -> None:
    """Wait for the ferryd binary (a rebuild may be replacing it); fail the test if it never appears."""
    wait = float(os.environ.get("FERRYD_WAIT_SECONDS", "15"))
    if not wait_until(lambda: os.access(FERRYD, os.X_OK), wait, 0.2):
        pytest.fail(f"ferryd binary not found at {FERRYD} (set FERRYD or build it with `swift build`)")


def group_stats(c, group: str):
    """The broker's stats of one consumer group, read over ``c``."""
    matches = [g for g in c.stats().groups if g.name == group]
    assert len(matches) == 1, f"group {group} not in stats"
    return matches[0]


def wait_group_settled(c, group: str, timeout: float = 3.0, caught_up: bool = False):
    """Stats are read over the wire while Settle has no reply: poll until the group has nothing
    in flight (and, with ``caught_up``, nothing left to deliver)."""
    def settled():
        g = group_stats(c, group)
        return g if g.in_flight == 0 and (not caught_up or g.lag == 0) else None

    stats = wait_until(settled, timeout, 0.05)
    assert stats, f"group {group} still has in-flight or undelivered events: {group_stats(c, group)}"
    return stats


class Background(threading.Thread):
    """Runs ``target`` in a daemon thread; :meth:`result` joins it and re-raises what it raised
    (``pytest.fail`` included), so that a failure there fails the test instead of vanishing."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self._call, self._args = target, args
        self._error = None
        self._value = None

    def run(self):
        try:
            self._value = self._call(*self._args)
        except BaseException as error:  # noqa: B036 - handed to the test thread
            self._error = error

    def result(self, timeout: float):
        """Wait up to ``timeout`` s; fail if it is still running; re-raise its exception."""
        self.join(timeout)
        if self.is_alive():
            pytest.fail(f"background call {self._call!r} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ferryd:
    """One ferryd on a fixed port and data directory that can be stopped and started again."""

    def __init__(self, workdir: pathlib.Path, *args: str, max_open_files: Optional[int] = None):
        self.workdir, self.args = workdir, args
        self.max_open_files = max_open_files  # RLIMIT_NOFILE (soft and hard) for the process
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.log_path = workdir / "ferryd.log"
        self.process = None
        self.runs = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "ferryd is still running"
        self.runs += 1
        endpoint_file = self.workdir / f"endpoint-{self.runs}"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [FERRYD, "--endpoint", self.endpoint, "--endpoint-file", str(endpoint_file),
                 "--data-dir", str(self.workdir / "data"), "--exit-with-parent", "--http-endpoint", "127.0.0.1:0", *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=self._limit_files)

        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"ferryd exited with {self.process.returncode}:\n{self.log()}")
            return endpoint_file.exists() and endpoint_file.read_text().strip()

        bound = wait_until(ready, STARTUP_TIMEOUT)
        assert bound == self.endpoint, f"ferryd did not listen on {self.endpoint} in time:\n{self.log()}"

    def _limit_files(self) -> None:
        if self.max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_open_files, self.max_open_files))

    def kill(self) -> None:
        """kill -9: no graceful shutdown."""
        self.process.kill()
        self.process.wait(timeout=5)

    def terminate(self, timeout: float = 8.0) -> None:
        """SIGTERM, then wait for the graceful shutdown to end."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, f"ferryd exited with {self.process.returncode}:\n{self.log()}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def receive_ids(c: FerryClient, ids, timeout: float):
    """Receive until every id of ``ids`` arrived (or ``timeout``); return the deliveries, unsettled."""
    got, missing = [], set(ids)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        delivery = c.receive(timeout=max(0.0, deadline - time.monotonic()))
        if delivery is not None:
            got.append(delivery)
            missing.discard(delivery.event.id)
    assert not missing, f"not received within {timeout} s: {sorted(missing)}; got {[d.event.id for d in got]}"
    return got


class CountingClient(FerryClient):
    """Counts the Publish commands it sends; calls ``on_publish_sent`` right after the
    ``trigger_after``-th."""

    trigger_after = 0
    on_publish_sent = None

    def __init__(self, *args, **kwargs):
        self.publishes = 0
        super().__init__(*args, **kwargs)

    def _send_command(self, field: str, command, *args, **kwargs) -> int:
        request_id = super()._send_command(field, command, *args, **kwargs)
        if field == "publish":
            self.publishes += 1
            if self.publishes == self.trigger_after:
                self.on_publish_sent()
        return request_id


def receive_all_once(c: FerryClient, ids, timeout: float):
    """Receive and ack until every id of ``ids`` arrived (or ``timeout``); then make sure no
    further delivery is pending. Return the deliveries' event ids counted."""
    seen, missing = collections.Counter(), set(ids)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        delivery = c.receive(timeout=max(0.0, deadline - time.monotonic()))
        if delivery is not None:
            seen[delivery.event.id] += 1
            missing.discard(delivery.event.id)
            c.ack(delivery)
    assert not missing, f"{len(missing)} events not received within {timeout} s"
    while (delivery := c.receive(timeout=0.3)) is not None:  # duplicates would be waiting by now
        seen[delivery.event.id] += 1
        c.ack(delivery)
    return seen
