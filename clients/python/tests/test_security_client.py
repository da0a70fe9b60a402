"""The client side of CURVE and authorization, without ferryd: key arguments and their errors,
the environment variables, and a fake CURVE broker (a ROUTER with its own ZAP handler) that
answers with ``principal``, ``FORBIDDEN``, ``UNAUTHENTICATED`` and ``SubscriptionEnded`` on
request, so that the client's handling of each is certain. test_security.py has the same against
a real ferryd.
"""
import os
import queue
import threading
import time

import pytest
import zmq
import zmq.auth
import zmq.utils.z85

from support import receive_ids, wait_until  # (also puts the client on sys.path)

from ferry_client import (
    SIGNATURE, BrokerError, CurveKeys, FerryClient, FerryError, Forbidden, PublishRejected, RequestTimeout,
    SubscriptionEnded, Unauthenticated, commands_pb2 as pb, make_event,
)
from ferry_client.security import is_z85_key, resolve_curve_keys

TIMEOUT = 5.0


@pytest.fixture
def keys(tmp_path):
    """Certificates as pyzmq writes them: ``server``, ``alice`` and ``mallory`` (NAME.key and
    NAME.key_secret in tmp_path); returns name -> (public path, secret path)."""
    made = {}
    for name in ("server", "alice", "mallory"):
        made[name] = zmq.auth.create_certificates(str(tmp_path), name)
    return made


def public_key(path) -> str:
    return zmq.auth.load_certificate(path)[0].decode()


class CurveFake(threading.Thread):
    """Plays a CURVE ferryd: its own context, a ZAP handler that lets in the keys of ``principals``
    (Z85 public key -> name; User-Id = the key) and a ROUTER that answers Hello with the
    principal, Subscribe (``Error FORBIDDEN`` for groups in ``forbidden_groups``), Publish
    (``FORBIDDEN`` per item for topics outside ``allowed_prefix``) and Stats (``FORBIDDEN``).
    Once ``revoked``, every command is answered ``Error UNAUTHENTICATED``. ``run_in_loop`` runs
    a function in its thread (the socket is not thread-safe)."""

    def __init__(self, server_secret_file: str, principals: dict):
        super().__init__(daemon=True)
        self.context = zmq.Context()
        self.principals = principals
        self.zap = self.context.socket(zmq.REP)
        self.zap.linger = 0
        self.zap.bind("inproc://zeromq.zap.01")
        self.router = self.context.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.curve_server = True
        self.router.curve_secretkey = zmq.auth.load_certificate(server_secret_file)[1]
        self.router.zap_domain = b"ferry"
        self.endpoint = f"tcp://127.0.0.1:{self.router.bind_to_random_port('tcp://127.0.0.1')}"
        self.broker_id = "fake-curve-1"
        self.forbidden_groups = set()
        self.allowed_prefix = "ok."
        self.revoked = False
        self.zap_requests = []      # (domain, mechanism, Z85 key, accepted)
        self.commands = []          # (command kind, principal)
        self.subscribes = []        # Subscribe commands, in order
        self.peer = None
        self.next_subscription = 0
        self._calls: "queue.Queue" = queue.Queue()
        self._halt = threading.Event()

    # -- called from the test thread -----------------------------------------------------------

    def run_in_loop(self, function) -> None:
        done = threading.Event()
        self._calls.put((function, done))
        assert done.wait(TIMEOUT), "fake broker did not run the call"

    def send(self, **reply) -> None:
        self.run_in_loop(lambda: self._send(**reply))

    def stop(self) -> None:
        self._halt.set()
        self.join(TIMEOUT)
        self.context.destroy(linger=0)

    # -- its thread ----------------------------------------------------------------------------

    def _send(self, request_id: int = 0, **reply) -> None:
        self.router.send_multipart([self.peer, SIGNATURE,
                                    pb.ServerMessage(request_id=request_id, **reply).SerializeToString()])

    def _answer_zap(self) -> None:
        version, request_id, domain, _address, _identity, mechanism, *credentials = self.zap.recv_multipart()
        key = zmq.utils.z85.encode(credentials[0]).decode() if credentials else ""
        accepted = domain == b"ferry" and mechanism == b"CURVE" and key in self.principals
        self.zap_requests.append((domain, mechanism, key, accepted))
        self.zap.send_multipart([version, request_id, b"200" if accepted else b"400",
                                 b"OK" if accepted else b"unknown key", key.encode() if accepted else b"", b""])

    def _answer(self) -> None:
        peer, signature, body = self.router.recv_multipart(copy=False)
        self.peer = peer.bytes
        principal = self.principals.get(body.get("User-Id"), "")
        message = pb.ClientMessage.FromString(body.bytes)
        kind = message.WhichOneof("command")
        self.commands.append((kind, principal))
        rid = message.request_id
        if kind in ("heartbeat", "settle", "goodbye"):
            return
        if self.revoked:
            self._send(rid, error=pb.Error(code=pb.UNAUTHENTICATED, message="this key is no longer known"))
        elif kind == "hello":
            self._send(rid, welcome=pb.Welcome(protocol_version=1, heartbeat_interval_ms=100, peer_timeout_ms=1000,
                                               max_payload_bytes=1024, max_batch=16, broker_id=self.broker_id,
                                               principal=principal))
        elif kind == "subscribe":
            self.subscribes.append(message.subscribe)
            if message.subscribe.group in self.forbidden_groups:
                self._send(rid, error=pb.Error(code=pb.FORBIDDEN, message=f"{principal} may not join that group"))
            else:
                self.next_subscription += 1
                self._send(rid, subscribed=pb.Subscribed(subscription_id=self.next_subscription,
                                                         group=message.subscribe.group, max_in_flight=10))
        elif kind == "publish":
            result = pb.PublishResult()
            for item in message.publish.items:
                if item.event.topic.startswith(self.allowed_prefix):
                    result.confirmed.append(item.sequence)
                    result.offsets.append(item.sequence)
                else:
                    result.rejected.add(sequence=item.sequence, code=pb.FORBIDDEN,
                                        message=f"{principal} may not publish to {item.event.topic}")
            self._send(rid, publish_result=result)
        elif kind == "unsubscribe":
            self._send(rid, unsubscribed=pb.Unsubscribed())
        else:
            self._send(rid, error=pb.Error(code=pb.FORBIDDEN, message=f"{principal} has no grant for {kind}"))

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.zap, zmq.POLLIN)
        poller.register(self.router, zmq.POLLIN)
        last_beat = 0.0
        while not self._halt.is_set():
            ready = dict(poller.poll(10))
            if self.zap in ready:
                self._answer_zap()
            if self.router in ready:
                self._answer()
            while not self._calls.empty():
                function, done = self._calls.get()
                function()
                done.set()
            if self.peer is not None and not self.revoked and time.monotonic() - last_beat >= 0.1:
                last_beat = time.monotonic()
                self._send(heartbeat=pb.Heartbeat(broker_id=self.broker_id))
        self.zap.close()
        self.router.close()


@pytest.fixture
def fake(keys):
    broker = CurveFake(keys["server"][1], {public_key(keys["alice"][0]): "alice"})
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def clients():
    made = []

    def make(endpoint, **options):
        options.setdefault("client_name", "pytest-security")
        made.append(FerryClient(endpoint, **options))
        return made[-1]

    try:
        yield make
    finally:
        for c in made:
            c.close()


# -- keys and their errors ---------------------------------------------------------------------

def test_keys_from_certificate_files_text_and_pairs(keys):
    server_public, server_secret = keys["server"]
    alice_public, alice_secret = keys["alice"]
    by_files = resolve_curve_keys(server_public, alice_secret)
    assert by_files.server_key == public_key(server_public)
    assert by_files.public_key == public_key(alice_public)
    assert "secret" not in repr(by_files) and zmq.auth.load_certificate(alice_secret)[1].decode() not in repr(by_files)
    # The server key as Z85 text (str or bytes) or a path object; the server's secret
    # certificate works too (only its public key is read); a (public, secret) pair for the client.
    pair = zmq.auth.load_certificate(alice_secret)
    for server_key in (public_key(server_public), public_key(server_public).encode(), server_secret,
                       __import__("pathlib").Path(server_public)):
        assert resolve_curve_keys(server_key, client_keys=pair) == by_files
    assert resolve_curve_keys(server_public, client_keys=tuple(k.decode() for k in pair)) == by_files
    assert is_z85_key(by_files.server_key) and not is_z85_key(by_files.server_key[:-1])


@pytest.mark.parametrize("arguments, expected", [
    (dict(server_key="not-a-key", client_key_file="alice.key_secret"), "neither a CURVE public key"),
    (dict(server_key="server.key", client_key_file="missing.key_secret"), "does not exist"),
    (dict(server_key="server.key", client_key_file="alice.key"), "has no secret key"),
    (dict(server_key="server.key"), "no client key"),
    (dict(client_key_file="alice.key_secret"), "no server key"),
    (dict(client_keys=("a" * 40, "b" * 40)), "no server key"),
    (dict(server_key="server.key", client_key_file="alice.key_secret", client_keys=("a" * 40, "b" * 40)),
     "not both"),
    (dict(server_key="server.key", client_keys=("short", "b" * 40)), "40 Z85 characters"),
    (dict(server_key="server.key", client_keys=("a" * 40,)), "(public, secret) pair"),
    (dict(server_key="server.key", client_keys=("a" * 39 + '"', "b" * 40)), "not valid Z85"),
    (dict(server_key="server.key", client_keys="mallory"), "mismatch"),
    (dict(server_key="junk.key", client_key_file="alice.key_secret"), "no public-key line"),
    (dict(server_key="server.key", client_key_file="."), "not a file"),
])
def test_bad_keys_raise_value_error_before_connecting(keys, tmp_path, monkeypatch, arguments, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.key").write_text("metadata\n    principal = \"x\"\n")
    if arguments.get("client_keys") == "mallory":  # mallory's public key with alice's secret key
        arguments["client_keys"] = (zmq.auth.load_certificate(keys["mallory"][0])[0],
                                    zmq.auth.load_certificate(keys["alice"][1])[1])
        expected = "does not belong to the secret key"
    with pytest.raises(ValueError) as raised:
        FerryClient("tcp://127.0.0.1:9", "pytest-bad-keys", hello=False, **arguments)
    assert expected in str(raised.value)


def test_keys_from_the_environment(keys, monkeypatch):
    server_public, _ = keys["server"]
    _, alice_secret = keys["alice"]
    monkeypatch.setenv("FERRY_SERVER_KEY", public_key(server_public))
    with pytest.raises(ValueError, match="FERRY_SERVER_KEY.*but no client key"):
        resolve_curve_keys()
    monkeypatch.setenv("FERRY_CLIENT_KEY_FILE", alice_secret)
    from_environment = resolve_curve_keys()
    assert from_environment == resolve_curve_keys(server_public, alice_secret)
    monkeypatch.setenv("FERRY_SERVER_KEY", server_public)  # a path works too
    assert resolve_curve_keys() == from_environment
    assert resolve_curve_keys("") is None  # plaintext whatever the environment says
    # Arguments given: the environment is not read at all.
    other = resolve_curve_keys(server_public, client_keys=zmq.curve_keypair())
    assert other.public_key != from_environment.public_key
    monkeypatch.setenv("FERRY_CLIENT_KEY_FILE", "/nonexistent/alice.key_secret")
    with pytest.raises(ValueError, match="FERRY_CLIENT_KEY_FILE '/nonexistent/alice.key_secret' does not exist"):
        resolve_curve_keys()
    monkeypatch.delenv("FERRY_SERVER_KEY")
    monkeypatch.delenv("FERRY_CLIENT_KEY_FILE")
    assert resolve_curve_keys() is None


# -- against the fake CURVE broker -------------------------------------------------------------

def test_curve_client_is_authenticated_and_learns_its_principal(fake, keys, clients, monkeypatch):
    c = clients(fake.endpoint, server_key=keys["server"][0], client_key_file=keys["alice"][1])
    assert c.principal == "alice"
    assert isinstance(c.curve, CurveKeys) and c.curve.public_key == public_key(keys["alice"][0])
    assert fake.zap_requests == [(b"ferry", b"CURVE", c.curve.public_key, True)]
    assert ("hello", "alice") in fake.commands
    # The same from the environment.
    monkeypatch.setenv("FERRY_SERVER_KEY", public_key(keys["server"][0]))
    monkeypatch.setenv("FERRY_CLIENT_KEY_FILE", keys["alice"][1])
    assert clients(fake.endpoint).principal == "alice"


def test_refused_handshakes_time_out_naming_the_likely_cause(fake, keys, clients):
    unknown = clients(fake.endpoint, hello=False, server_key=keys["server"][0], client_key_file=keys["mallory"][1])
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as raised:
        unknown.hello(timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert unknown.curve.public_key in str(raised.value) and "credentials file" in str(raised.value)
    assert wait_until(lambda: any(not accepted for *_, accepted in fake.zap_requests), TIMEOUT)
    # Without keys a CURVE server does not even ask its ZAP handler.
    plaintext = clients(fake.endpoint, hello=False)
    with pytest.raises(RequestTimeout, match="does not answer a client without keys"):
        plaintext.hello(timeout=1.0)
    # A wrong server key: the handshake fails on the client's side.
    wrong_server = clients(fake.endpoint, hello=False, server_key=keys["mallory"][0], client_key_file=keys["alice"][1])
    with pytest.raises(RequestTimeout):
        wrong_server.hello(timeout=1.0)
    assert all(kind != "hello" for kind, _ in fake.commands)


def test_forbidden_and_unauthenticated_errors(fake, keys, clients):
    c = clients(fake.endpoint, server_key=keys["server"][0], client_key_file=keys["alice"][1])
    with pytest.raises(Forbidden) as raised:
        c.stats(timeout=TIMEOUT)
    assert isinstance(raised.value, BrokerError) and raised.value.code == pb.FORBIDDEN
    assert raised.value.code_name == "FORBIDDEN" and "alice has no grant for stats" in raised.value.message
    fake.forbidden_groups.add("secret")
    with pytest.raises(Forbidden):
        c.subscribe("secret", "ok.>", timeout=TIMEOUT)
    with pytest.raises(PublishRejected) as rejected:
        c.publish([{"topic": "ok.a", "id": "1"}, {"topic": "no.b", "id": "2"}, {"topic": "ok.c", "id": "3"}],
                  timeout=TIMEOUT)
    assert rejected.value.offsets[0] is not None and rejected.value.offsets[2] is not None
    assert rejected.value.offsets[1] is None
    assert [(r.index, r.code_name) for r in rejected.value.rejections] == [(1, "FORBIDDEN")]
    fake.revoked = True
    with pytest.raises(Unauthenticated):
        c.dlq_list("any", timeout=TIMEOUT)
    with pytest.raises(PublishRejected) as rejected:
        c.publish([{"topic": "ok.a", "id": "4"}], timeout=TIMEOUT)
    assert [r.code_name for r in rejected.value.rejections] == ["UNAUTHENTICATED"]


def test_subscription_ended_stops_its_deliveries_and_is_raised_once(fake, keys, clients):
    c = clients(fake.endpoint, server_key=keys["server"][0], client_key_file=keys["alice"][1])
    ended_one = c.subscribe("a", "ok.a.>", timeout=TIMEOUT).subscription_id
    kept = c.subscribe("b", "ok.b.>", timeout=TIMEOUT).subscription_id

    def delivery(subscription_id, number):
        return pb.Delivery(subscription_id=subscription_id, delivery_id=number, attempt=1,
                           event=make_event(f"ok.{number}", str(number)))

    fake.send(deliver=pb.Deliver(deliveries=[delivery(1, 1), delivery(2, 2), delivery(1, 3)]))
    first = c.receive(timeout=TIMEOUT)
    assert (first.subscription_id, first.event.id) == (ended_one, "1")
    c.ack(first)
    fake.send(subscription_ended=pb.SubscriptionEnded(subscription_id=1, code=pb.FORBIDDEN,
                                                      message="alice may no longer subscribe to ok.a.>"))
    fake.send(deliver=pb.Deliver(deliveries=[delivery(1, 4), delivery(2, 5)]))  # 4: already on its way
    assert wait_until(lambda: c.poll(0.05) or c.subscriptions_ended, TIMEOUT)  # poll() never raises it
    with pytest.raises(SubscriptionEnded) as raised:  # raised before the buffered deliveries go on
        c.receive(timeout=TIMEOUT)
    ended = raised.value
    assert isinstance(ended, BrokerError) and ended.code == pb.FORBIDDEN and ended.code_name == "FORBIDDEN"
    assert (ended.subscription_id, ended.group, ended.patterns) == (ended_one, "a", ["ok.a.>"])
    assert "ok.a.>" in ended.message and "subscription 1 (group 'a') ended by the broker" in str(ended)
    assert c.subscriptions_ended == [ended]
    # The kept subscription goes on; the ended one's buffered (3) and late (4) deliveries are dropped.
    rest = receive_ids(c, ["2", "5"], TIMEOUT)
    assert [(d.subscription_id, d.event.id) for d in rest] == [(kept, "2"), (kept, "5")]
    assert c.receive(timeout=0.3) is None
    c.unsubscribe(ended_one)  # gone already: nothing to do, no error
    with pytest.raises(BrokerError, match="UNKNOWN_SUBSCRIPTION"):
        c.unsubscribe(999)
    # A resume (the broker restarted) renews only the kept subscription.
    count = len(fake.subscribes)
    fake.broker_id = "fake-curve-2"
    assert wait_until(lambda: c.poll(0.05) or c.resumes == 1, TIMEOUT)
    assert wait_until(lambda: c.poll(0.05) or len(fake.subscribes) > count, TIMEOUT)
    c.poll(0.3)
    assert [s.group for s in fake.subscribes[count:]] == ["b"]
    assert c.subscriptions_ended == [ended]


def test_an_unsolicited_unauthenticated_ends_every_subscription(fake, keys, clients):
    c = clients(fake.endpoint, server_key=keys["server"][0], client_key_file=keys["alice"][1])
    first = c.subscribe("a", "ok.a.>", timeout=TIMEOUT).subscription_id
    second = c.subscribe("b", "ok.b.>", timeout=TIMEOUT).subscription_id
    fake.send(deliver=pb.Deliver(deliveries=[pb.Delivery(subscription_id=2, delivery_id=7, attempt=1,
                                                         event=make_event("ok.b.x", "7"))]))
    fake.revoked = True  # the fake's heartbeats stop, its answers are UNAUTHENTICATED
    fake.send(error=pb.Error(code=pb.UNAUTHENTICATED, message="this connection's client key was removed"))
    assert wait_until(lambda: c.poll(0.05) or c.subscriptions_ended, TIMEOUT)
    ended = []
    for _ in range(2):
        with pytest.raises(SubscriptionEnded) as raised:
            c.receive(timeout=TIMEOUT)  # the buffered delivery 7 was dropped
        ended.append(raised.value)
    assert [(e.subscription_id, e.code_name) for e in ended] == [(first, "UNAUTHENTICATED"),
                                                                 (second, "UNAUTHENTICATED")]
    assert "client key was removed" in ended[0].message
    assert c.subscriptions_ended == ended
    assert [m.error.code for m in c.unsolicited_errors] == [pb.UNAUTHENTICATED]
    assert c.receive(timeout=0.3) is None
    with pytest.raises(Unauthenticated):
        c.dlq_list("a", timeout=TIMEOUT)


def test_a_renewal_refused_after_a_restart_ends_the_subscription(fake, keys, clients):
    c = clients(fake.endpoint, server_key=keys["server"][0], client_key_file=keys["alice"][1])
    subscription = c.subscribe("a", "ok.a.>", timeout=TIMEOUT).subscription_id
    fake.forbidden_groups.add("a")
    fake.broker_id = "fake-curve-2"
    with pytest.raises(SubscriptionEnded) as raised:
        c.receive(timeout=TIMEOUT)
    assert raised.value.subscription_id == subscription and raised.value.code == pb.FORBIDDEN
    assert "after a broker restart" in raised.value.message
    assert c.receive(timeout=0.3) is None
    c.unsubscribe(subscription)


def test_principal_is_none_without_security(client):
    assert client.curve is None
    assert client.principal is None


def test_errors_are_exported():
    import ferry_client
    for name in ("Forbidden", "Unauthenticated", "SubscriptionEnded", "CurveKeys"):
        assert name in ferry_client.__all__ and hasattr(ferry_client, name)
    assert issubclass(SubscriptionEnded, BrokerError) and issubclass(Forbidden, BrokerError)
    assert issubclass(Unauthenticated, BrokerError) and issubclass(BrokerError, FerryError)
    assert os.environ.get("FERRY_SERVER_KEY") is None  # conftest keeps the environment out of the tests
