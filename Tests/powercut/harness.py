"""A ferryd run under the powercut shim, that can be power-cut and restarted on what a power loss
would have left of its data directory (see README.md).

Reuses the Python client's test support (clients/python/tests/support.py): the ferryd binary
(env FERRYD, default .build/debug/ferryd), free ports, waiting with deadlines.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time
from typing import Optional

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "clients" / "python" / "tests"))
sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

import powercut  # noqa: E402
from support import FERRYD, STARTUP_TIMEOUT, free_port, wait_until  # noqa: E402  (puts ferry_client on sys.path)

from ferry_client import FerryClient  # noqa: E402


class PowercutBroker:
    """One ferryd on a fixed port and data directory. ``start()`` runs it under the shim (the
    data directory is copied first: the reconstruction's starting point); ``power_cut()`` kills it
    with SIGKILL and replaces the data directory by the worst case a power loss at that moment
    leaves; ``start(shim=False)`` runs it again on that."""

    def __init__(self, workdir: pathlib.Path, shim: str, *args: str):
        self.workdir, self.shim, self.args = workdir, shim, args
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.log_path = workdir / "ferryd.log"
        self.process: Optional[subprocess.Popen] = None
        self.runs = 0
        self.base: Optional[pathlib.Path] = None
        self.oplog: Optional[pathlib.Path] = None
        self.report: Optional[powercut.Report] = None

    def start(self, shim: bool = True) -> None:
        assert self.process is None or self.process.poll() is not None, "ferryd is still running"
        self.runs += 1
        env = dict(os.environ)
        if shim:
            self.base = self.workdir / f"base-{self.runs}"
            shutil.copytree(self.data, self.base)
            self.oplog = self.workdir / f"ops-{self.runs}.log"
            env = powercut.shim_environment(self.shim, str(self.data), str(self.oplog), env)
        else:
            self.base = self.oplog = None
        endpoint_file = self.workdir / f"endpoint-{self.runs}"
        with open(self.log_path, "ab") as log:
            log.write(f"==== run {self.runs} ({'under the shim' if shim else 'no shim'}): {' '.join(self.args)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [FERRYD, "--endpoint", self.endpoint, "--endpoint-file", str(endpoint_file),
                 "--data-dir", str(self.data), "--exit-with-parent", "--http-endpoint", "127.0.0.1:0", *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"ferryd exited with {self.process.returncode}:\n{self.log()}")
            return endpoint_file.exists() and endpoint_file.read_text().strip()

        bound = wait_until(ready, STARTUP_TIMEOUT)
        assert bound == self.endpoint, f"ferryd did not listen on {self.endpoint} in time:\n{self.log()}"

    def power_cut(self) -> powercut.Report:
        """SIGKILL, then rewrite the data directory as a power cut at this moment leaves it."""
        assert self.oplog is not None, "not running under the shim"
        self.process.kill()
        self.process.wait(timeout=10)
        records = powercut.read_log(str(self.oplog))
        # The shim must have seen every change ferryd made: replaying all of them gives the
        # directory a plain kill -9 leaves (the -shm file is written through mmap, unseen; a
        # change under way at the kill may or may not have happened).
        everything, _ = powercut.simulate(str(self.base), records, everything=True)
        under_way = set(powercut.in_flight(records))
        missed = powercut.tree_differences(everything, powercut.read_tree(str(self.data)),
                                           ignore=lambda path: path.endswith("-shm") or path in under_way)
        assert not missed, f"the shim missed changes to the data directory: {missed}"
        tree, report = powercut.simulate(str(self.base), records)
        report.removed_shm = powercut.write_tree(tree, str(self.data))
        self.report = report
        with open(self.log_path, "ab") as log:
            log.write(f"==== power cut: {report.summary()}\n".encode())
        return report

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, role: str, **options) -> FerryClient:
        options.setdefault("auto_resume", False)
        return FerryClient(self.endpoint, f"powercut-{role}", **options)


def group_names(c: FerryClient):
    return sorted(g.name for g in c.stats().groups)


def receive_until(c: FerryClient, timeout: float, *, ids=None, count: Optional[int] = None,
                  subscription: Optional[int] = None, idle: Optional[float] = None, ack: bool = True):
    """Receives (and acks) deliveries until every event id of ``ids`` arrived, or ``count``
    deliveries did, or ``timeout`` passes, or (with ``idle``) nothing arrives for ``idle`` seconds.
    Only deliveries of ``subscription`` count, if given. Returns the deliveries that count."""
    got, missing = [], set(ids) if ids is not None else None
    deadline = time.monotonic() + timeout

    def done():
        return (missing is not None and not missing) or (count is not None and len(got) >= count)

    while not done() and time.monotonic() < deadline:
        wait = deadline - time.monotonic()
        if idle is not None:
            wait = min(wait, idle)
        delivery = c.receive(timeout=max(0.0, wait))
        if delivery is None:
            if idle is not None:
                break
            continue
        if ack:
            c.ack(delivery)
        if subscription is not None and delivery.subscription_id != subscription:
            continue
        got.append(delivery)
        if missing is not None:
            missing.discard(delivery.event.id)
    if ack:
        c.flush()
    return got


class LoopTicker:
    """Keeps ferryd's broker loop turning (a Heartbeat every ``interval`` seconds from a session
    of its own), so that its group-state saves, due at most every 10 ms at the end of a loop
    iteration, fall at a random phase with respect to what a test does: without it an idle
    broker saves a change in the very iteration that made it."""

    def __init__(self, endpoint: str, interval: float = 0.0005):
        import threading

        import zmq

        from ferry_client import SIGNATURE, commands_pb2 as pb

        self._stop = threading.Event()
        self._socket = zmq.Context.instance().socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)
        self._socket.send_multipart([SIGNATURE, pb.ClientMessage(request_id=1, hello=pb.Hello(client_name="powercut-ticker")).SerializeToString()])
        self._beat = [SIGNATURE, pb.ClientMessage(heartbeat=pb.Heartbeat()).SerializeToString()]
        self._goodbye = [SIGNATURE, pb.ClientMessage(goodbye=pb.Goodbye()).SerializeToString()]
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import zmq

        while not self._stop.is_set():
            try:
                self._socket.send_multipart(self._beat, flags=zmq.NOBLOCK)
                while self._socket.poll(0):
                    self._socket.recv_multipart()
            except zmq.ZMQError:
                pass
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            import zmq

            self._socket.send_multipart(self._goodbye, flags=zmq.NOBLOCK)
        except Exception:  # noqa: BLE001 - best effort
            pass
        self._socket.close()
