"""Helpers of the deploy tests: waiting on conditions with a deadline, processes, HTTP."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional, TypeVar

import pytest

DEADLINE_S = 30.0
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], Optional[T]], deadline_s: float = DEADLINE_S,
             alive: Optional[subprocess.Popen] = None) -> T:
    """Call ``probe`` until it returns something other than None; fail after ``deadline_s``.

    With ``alive``, fail at once if that process has exited.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value is not None:
            return value
        if alive is not None and alive.poll() is not None:
            pytest.fail(f"{what}: the process exited with {alive.returncode}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def equal_to(expected: T, probe: Callable[[], Optional[T]]) -> Callable[[], Optional[T]]:
    """A probe for ``wait_for`` that answers ``probe()``'s value once it equals ``expected``."""
    def check() -> Optional[T]:
        value = probe()
        return value if value == expected else None
    return check


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body); status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def answers_200(url: str) -> Callable[[], Optional[bool]]:
    """A probe for ``wait_for``: True once ``url`` answers 200."""
    return lambda: True if http_get(url)[0] == 200 else None


def read_text(path: Path) -> Optional[str]:
    """The stripped content of ``path`` once it is not empty, else None."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` with its output in ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(process: subprocess.Popen, log: Path) -> None:
    """SIGTERM ``process``, SIGKILL it after 10 s; print its log's tail if it failed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.returncode not in (0, -15):
        print(f"--- {log.name} (exit {process.returncode}) ---\n" + log.read_text(errors="replace")[-4000:])
