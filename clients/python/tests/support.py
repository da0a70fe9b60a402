"""What the Python client's test modules share: paths, the ferryd binary and waiting helpers.

Environment:
  FERRYD               path of the broker binary (default <repo>/.build/debug/ferryd)
  FERRYD_WAIT_SECONDS  how long to wait for a missing ferryd binary (rebuild in progress), default 15.
"""
import os
import pathlib
import sys
import threading
import time
import uuid

import pytest

CLIENT_DIR = pathlib.Path(__file__).resolve().parent.parent
REPO = CLIENT_DIR.parent.parent
sys.path.insert(0, str(CLIENT_DIR))

FERRYD = os.environ.get("FERRYD", str(REPO / ".build" / "debug" / "ferryd"))
STARTUP_TIMEOUT = 15.0


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
