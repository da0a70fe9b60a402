"""What the order system's Python tests share: where the Swift executables are, waiting on a
condition with a deadline, and the processes a test starts (ferryd first), stopped at the end
(the workers first, which drain against ferryd, then ferryd) with their logs closed.

  FERRY_BIN_DIR          where the root package's executables are, ferryd among them
                         (default <repo>/.build/debug)
  ORDER_SYSTEM_BIN_DIR   where the order system's executables are
                         (default <repo>/Examples/OrderSystem/.build/debug)
When either is set, a missing executable fails the test; otherwise the test is skipped.
"""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "clients" / "python"))

FERRY_BIN = pathlib.Path(os.environ.get("FERRY_BIN_DIR", str(REPO / ".build" / "debug")))
ORDER_SYSTEM_BIN = pathlib.Path(os.environ.get("ORDER_SYSTEM_BIN_DIR", str(REPO / "Examples" / "OrderSystem" / ".build" / "debug")))


def executable(name: str) -> pathlib.Path:
    return FERRY_BIN / name if name == "ferryd" else ORDER_SYSTEM_BIN / name


def require_executables(*names: str) -> None:
    """Skips the test (fails it when a bin directory was given) if an executable is not built."""
    missing = [str(executable(name)) for name in names if not os.access(executable(name), os.X_OK)]
    if missing:
        message = (f"Swift executables not built: {missing} (run `swift build` at the repository root and "
                   "`swift build --package-path Examples/OrderSystem`)")
        if "FERRY_BIN_DIR" in os.environ or "ORDER_SYSTEM_BIN_DIR" in os.environ:
            pytest.fail(message)
        pytest.skip(message)


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


class SystemProcesses:
    """The processes of one test, each logging to `<directory>/<name>.log`."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory
        self.processes = {}
        self._logs = []

    def start(self, name, *arguments, program=None) -> subprocess.Popen:
        """Starts the executable `name` (or `program`, a command line) with `arguments`."""
        log = open(self.directory / f"{name}.log", "wb")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen([*(program or [str(executable(name))]), *arguments], stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self.processes[name]

    def start_ferryd(self, *extra) -> str:
        """Starts ferryd on a free loopback port; returns its endpoint once it listens."""
        endpoint_file = self.directory / "endpoint"
        self.start("ferryd", "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file), "--data-dir",
                   str(self.directory / "ferryd"), "--log-level", "warning", "--exit-with-parent", *extra)
        endpoint = wait_until(lambda: endpoint_file.exists() and endpoint_file.read_text().strip(), 20)
        assert endpoint, "ferryd did not start"
        return endpoint

    def start_api(self, endpoint) -> str:
        """Starts orders-api; returns its base URL once it listens."""
        port_file = self.directory / "api.port"
        self.start("orders-api", "--broker", endpoint, "--log-level", "warning", "--data-dir", str(self.directory / "api"),
                   "--port", "0", "--port-file", str(port_file))
        port = wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 30)
        assert port, "orders-api did not listen"
        return f"http://127.0.0.1:{port}"

    def log(self, name) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the workers, then to ferryd; a process that does not exit in 10 s is killed."""
        workers = [p for name, p in self.processes.items() if name != "ferryd"]
        for batch in (workers, [self.processes["ferryd"]] if "ferryd" in self.processes else []):
            for process in batch:
                if process.poll() is None:
                    process.terminate()
            for process in batch:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in self._logs:
            log.close()
