"""Fixtures the Python client's test modules share: one ferryd for a whole session
(``endpoint``, ``client``, ``raw``) and ferryds a test can stop and start again (``ferryd_factory``,
``ferryd``, ``connect``). Environment: see support.py."""
import os
import shutil
import subprocess
import time

import pytest
import zmq

from support import FERRYD, STARTUP_TIMEOUT, Ferryd, require_ferryd, wait_until  # (also puts the client on sys.path)

from ferry_client import SIGNATURE, FerryClient, commands_pb2 as pb  # noqa: E402

# A FerryClient without keys takes them from these (CURVE); the tests choose their keys themselves.
for _variable in ("FERRY_SERVER_KEY", "FERRY_CLIENT_KEY_FILE"):
    os.environ.pop(_variable, None)

@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    """Start one ferryd for the session on a free port; always killed at the end."""
    require_ferryd()
    workdir = tmp_path_factory.mktemp("ferryd")
    endpoint_file = workdir / "endpoint"
    log_path = workdir / "ferryd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [FERRYD, "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file),
             "--data-dir", str(workdir / "data"), "--exit-with-parent", "--http-endpoint", "127.0.0.1:0"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def ready():
            if process.poll() is not None:
                pytest.fail(f"ferryd exited with {process.returncode}:\n{log_path.read_text()}")
            return endpoint_file.exists() and endpoint_file.read_text().strip()

        address = wait_until(ready, STARTUP_TIMEOUT)
        if not address:
            pytest.fail(f"ferryd wrote no endpoint file within {STARTUP_TIMEOUT} s:\n{log_path.read_text()}")
        yield address
        assert process.poll() is None, f"ferryd died during the tests:\n{log_path.read_text()}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def client(endpoint, request):
    c = FerryClient(endpoint, f"pytest-{request.node.name}"[:60])
    yield c
    c.close()


class RawPeer:
    """A bare DEALER for sending hand-made frames and reading raw replies."""

    def __init__(self, endpoint: str):
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)

    def send(self, request_id: int = 0, **command):
        self.socket.send_multipart([SIGNATURE, pb.ClientMessage(request_id=request_id, **command).SerializeToString()])

    def recv(self, timeout: float, skip_heartbeats: bool = True):
        deadline = time.monotonic() + timeout
        while self.socket.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            frames = self.socket.recv_multipart()
            assert len(frames) == 2 and frames[0] == SIGNATURE, frames
            message = pb.ServerMessage.FromString(frames[1])
            if not (skip_heartbeats and message.WhichOneof("reply") == "heartbeat"):
                return message
        return None

    def close(self):
        self.socket.close()


@pytest.fixture
def raw(endpoint):
    peers = []

    def make():
        peers.append(RawPeer(endpoint))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture
def ferryd_factory(tmp_path):
    """Start ferryds with extra arguments (short heartbeats: restarts are noticed quickly);
    every one is killed, and its directory removed, at the end."""
    require_ferryd()
    brokers = []

    def make(*args: str) -> Ferryd:
        workdir = tmp_path / f"ferryd-{len(brokers)}"
        workdir.mkdir()
        brokers.append(Ferryd(workdir, "--heartbeat-ms", "200", *args))
        brokers[-1].start()
        return brokers[-1]

    try:
        yield make
    finally:
        for broker in brokers:
            broker.stop()
            shutil.rmtree(broker.workdir, ignore_errors=True)


@pytest.fixture
def ferryd(ferryd_factory):
    return ferryd_factory()


@pytest.fixture
def connect(ferryd, request):
    """Make clients of ``ferryd``; all are closed at the end."""
    clients = []

    def make(role: str, **options) -> FerryClient:
        clients.append(FerryClient(ferryd.endpoint, f"pytest-{role}-{request.node.name}"[:60], **options))
        return clients[-1]

    try:
        yield make
    finally:
        for c in clients:
            c.close()
