"""CURVE, ZAP and grants against a real ferryd (section 13 of the protocol): ferryd started with
``--curve-secret-key-file`` and ``--credentials``; clients with key pairs made by pyzmq
(``zmq.auth.create_certificates``, the format ``ferry keygen`` writes too).

One ferryd serves the module (its credentials never change); the reload tests start their own
and rewrite its credentials file, then send SIGHUP. Every wait has a deadline.
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import zmq
import zmq.auth

from support import FERRYD, REPO, Ferryd, receive_ids, require_ferryd, uid, wait_until

from ferry_client import (
    BrokerError, FerryClient, Forbidden, PublishRejected, RequestTimeout, SubscriptionEnded, Unauthenticated,
    commands_pb2 as pb, make_event,
)

TIMEOUT = 5.0          # replies from a healthy ferryd
NO_ANSWER = 1.5        # how long a refused client waits for its (absent) Welcome
RELOAD_DEADLINE = 10.0  # a reload's effects on live sessions ("within a few seconds")
PRINCIPAL_HEADER = "ferry-principal"

#: The grants of the module's ferryd. Topics of each test live under sec.orders.<uid>.
GRANTS = {
    "publisher": {"allow": {"publish": ["sec.orders.>"]}, "deny": {"publish": ["sec.orders.internal.>"]}},
    "consumer": {"allow": {"subscribe": {"topics": ["sec.orders.>"], "groups": ["billing.>"]}},
                 "deny": {"subscribe": {"topics": ["sec.orders.secret.>"]}}},
    "operator": {"allow": {"admin": {"groups": [">"], "history": True, "stats": True}}},
    "nobody": {},  # authenticated, allowed nothing
}


# -- set-up ------------------------------------------------------------------------------------

_security_checked = []


def require_security_ferryd() -> None:
    """Fail (not skip) if ferryd predates the security work: these tests are how it is checked."""
    require_ferryd()
    if not _security_checked:
        try:
            usage = subprocess.run([FERRYD, "--help"], capture_output=True, text=True, timeout=20).stdout
        except subprocess.TimeoutExpired:
            usage = ""
        _security_checked.append("--credentials" in usage and "--curve-secret-key-file" in usage)
    if not _security_checked[0]:
        pytest.fail(f"{FERRYD} has no --credentials / --curve-secret-key-file options: built before CURVE support")


class Keys:
    """Certificates in ``directory``: NAME.key and NAME.key_secret, made by pyzmq."""

    def __init__(self, directory, names):
        directory.mkdir()
        self.directory = directory
        for name in names:
            zmq.auth.create_certificates(str(directory), name, metadata={"principal": name})
            os.chmod(self.secret_file(name), 0o600)

    def public_file(self, name: str) -> str:
        return str(self.directory / f"{name}.key")

    def secret_file(self, name: str) -> str:
        return str(self.directory / f"{name}.key_secret")

    def public_key(self, name: str) -> str:
        return zmq.auth.load_certificate(self.public_file(name))[0].decode()


def _yaml_block(value: dict, indent: int) -> list:
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{' ' * indent}{key}:")
            lines.extend(_yaml_block(item, indent + 2))
        else:  # lists of strings as flow sequences, booleans: JSON is YAML here
            lines.append(f"{' ' * indent}{key}: {json.dumps(item)}")
    return lines


def credentials_yaml(keys: Keys, grants: dict) -> str:
    """The credentials file: one principal per ``grants`` entry, its key that of the same name."""
    lines = ["# Written by test_security.py: who may connect, and what each principal may do.", "principals:"]
    for name, grant in grants.items():
        lines.append(f"  - name: {name}")
        lines.append(f"    keys:\n      - {json.dumps(keys.public_key(name))}")
        lines.extend(_yaml_block(grant, 4))
    return "\n".join(lines) + "\n"


def write_credentials(path, keys: Keys, grants: dict) -> None:
    """Replace the file at once (a reader never sees half of it)."""
    partial = path.with_name(path.name + ".new")
    partial.write_text(credentials_yaml(keys, grants))
    os.replace(partial, path)


class SecureBroker:
    """A ferryd with CURVE and a credentials file, and clients of it (closed by ``close``)."""

    def __init__(self, workdir, grants: dict, *extra: str):
        self.keys = Keys(workdir / "keys", ["server", "stranger", *grants])
        self.credentials = workdir / "credentials.yaml"
        write_credentials(self.credentials, self.keys, grants)
        self.ferryd = Ferryd(workdir, "--heartbeat-ms", "200", "--curve-secret-key-file",
                             self.keys.secret_file("server"), "--credentials", str(self.credentials), *extra)
        self.endpoint = self.ferryd.endpoint
        self.clients = []
        self.ferryd.start()

    def connect(self, name: str, **options) -> FerryClient:
        """A client with ``name``'s key pair (and the server's public certificate file)."""
        options.setdefault("server_key", self.keys.public_file("server"))
        if "client_keys" not in options:
            options.setdefault("client_key_file", self.keys.secret_file(name))
        self.clients.append(FerryClient(self.endpoint, f"pytest-sec-{name}", **options))
        return self.clients[-1]

    def reload(self, grants: dict) -> None:
        write_credentials(self.credentials, self.keys, grants)
        self.ferryd.process.send_signal(signal.SIGHUP)

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.ferryd.stop()


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    require_security_ferryd()
    broker = SecureBroker(tmp_path_factory.mktemp("secure"), GRANTS)
    try:
        yield broker
        assert broker.ferryd.process.poll() is None, f"ferryd died during the tests:\n{broker.ferryd.log()}"
    finally:
        broker.close()


@pytest.fixture
def own_broker(tmp_path):
    """A ferryd of the test's own, whose credentials it may change."""
    require_security_ferryd()
    made = []

    def make(grants: dict, *extra: str) -> SecureBroker:
        workdir = tmp_path / f"secure-{len(made)}"
        workdir.mkdir()
        made.append(SecureBroker(workdir, grants, *extra))
        return made[-1]

    try:
        yield make
    finally:
        for broker in made:
            broker.close()


def metric(prometheus_text: str, name: str, **labels: str) -> float:
    """The sum of the samples of metric ``name`` (Prometheus text format) whose labels include
    ``labels``."""
    total = 0.0
    for line in prometheus_text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})?\s+(\S+)", line)
        if match and set(labels.items()) <= set(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or "")):
            total += float(match.group(2))
    return total


def refusals(operator: FerryClient, principal: str, reason: str) -> float:
    text = operator.stats(timeout=TIMEOUT).prometheus_text
    return metric(text, "ferry_auth_refusals_total", principal=principal, reason=reason)


def no_answer(c: FerryClient) -> RequestTimeout:
    """``c`` (made with ``hello=False``) gets no Welcome: RequestTimeout within the bound. Closes
    ``c`` (a client with a wrong server key would go on reconnecting)."""
    started = time.monotonic()
    try:
        with pytest.raises(RequestTimeout) as raised:
            c.hello(timeout=NO_ANSWER)
        assert time.monotonic() - started < NO_ANSWER + 2.0
    finally:
        c.close()
    return raised.value


# -- connecting --------------------------------------------------------------------------------

def test_granted_keys_connect_as_their_principal(secure):
    for name in GRANTS:
        c = secure.connect(name)
        assert c.principal == name
        assert c.welcome.principal == name
        assert c.curve.public_key == secure.keys.public_key(name)
    # The server key as Z85 text and the client's keys as a pair work the same.
    pair = zmq.auth.load_certificate(secure.keys.secret_file("operator"))
    c = secure.connect("operator", server_key=secure.keys.public_key("server"), client_keys=pair)
    assert c.principal == "operator"


def test_curve_settings_from_the_environment(secure, monkeypatch):
    monkeypatch.setenv("FERRY_SERVER_KEY", secure.keys.public_file("server"))
    monkeypatch.setenv("FERRY_CLIENT_KEY_FILE", secure.keys.secret_file("publisher"))
    c = FerryClient(secure.endpoint, "pytest-sec-environment")
    try:
        assert c.principal == "publisher"
    finally:
        c.close()


def test_keys_made_by_ferry_keygen(tmp_path):
    """The files `ferry keygen` writes serve ferryd and the Python client alike (skipped without
    the ferry CLI: $FERRY_CLI, default .build/debug/ferry)."""
    require_security_ferryd()
    cli = os.environ.get("FERRY_CLI", str(REPO / ".build" / "debug" / "ferry"))
    if not os.access(cli, os.X_OK):
        pytest.skip(f"no ferry CLI at {cli}")
    keys = tmp_path / "keys"
    for name in ("ferryd", "worker"):
        subprocess.run([cli, "keygen", name, "--dir", str(keys)], check=True, capture_output=True, timeout=30)
    worker_public = zmq.auth.load_certificate(str(keys / "worker.key"))[0].decode()
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(f'principals:\n  - name: worker\n    keys: ["{worker_public}"]\n')
    workdir = tmp_path / "ferryd"
    workdir.mkdir()
    ferryd = Ferryd(workdir, "--curve-secret-key-file", str(keys / "ferryd.key_secret"),
                    "--credentials", str(credentials))
    ferryd.start()
    try:
        c = FerryClient(ferryd.endpoint, "pytest-sec-keygen", server_key=str(keys / "ferryd.key"),
                        client_key_file=str(keys / "worker.key_secret"))
        try:
            assert c.principal == "worker"
        finally:
            c.close()
    finally:
        ferryd.stop()


def test_an_unknown_key_gets_no_answer(secure):
    stranger = secure.connect("stranger", hello=False)  # a well-formed key pair the credentials do not list
    error = no_answer(stranger)
    assert stranger.curve.public_key in str(error)
    random_pair = secure.connect("random", hello=False, client_keys=zmq.curve_keypair())
    no_answer(random_pair)
    operator = secure.connect("operator")
    assert wait_until(lambda: refusals(operator, "unknown", "unknown_key") >= 2, TIMEOUT, 0.1), \
        operator.stats(timeout=TIMEOUT).prometheus_text


def test_a_plaintext_client_gets_no_answer(secure):
    plaintext = FerryClient(secure.endpoint, "pytest-sec-plaintext", hello=False, server_key="")
    assert plaintext.curve is None
    no_answer(plaintext)


def test_a_wrong_server_key_gets_no_answer(secure):
    c = secure.connect("publisher", hello=False, server_key=secure.keys.public_key("stranger"))
    no_answer(c)


# -- publishing --------------------------------------------------------------------------------

def test_publish_allowed_and_forbidden_per_item(secure):
    u = uid()
    publisher = secure.connect("publisher")
    with pytest.raises(PublishRejected) as raised:
        publisher.publish([
            make_event(f"sec.orders.{u}.created", f"{u}-0"),          # allowed
            make_event(f"sec.payments.{u}", f"{u}-1"),                # no allow pattern matches
            make_event(f"sec.orders.internal.{u}", f"{u}-2"),         # denied
            make_event(f"sec.orders.{u}.updated", f"{u}-3"),          # allowed
        ], timeout=TIMEOUT)
    error = raised.value
    assert error.offsets[0] is not None and error.offsets[3] is not None
    assert error.offsets[1] is None and error.offsets[2] is None
    assert [(r.index, r.code_name) for r in error.rejections] == [(1, "FORBIDDEN"), (2, "FORBIDDEN")]
    assert error.code == pb.FORBIDDEN
    # The allowed ones were stored: publishing them again is confirmed at the same offsets (dedup).
    again = publisher.publish([make_event(f"sec.orders.{u}.created", f"{u}-0")], timeout=TIMEOUT)
    assert again == [error.offsets[0]]
    # A principal without a publish grant: every item.
    with pytest.raises(PublishRejected) as raised:
        secure.connect("consumer").publish([make_event(f"sec.orders.{u}.x", f"{u}-4")], timeout=TIMEOUT)
    assert [r.code_name for r in raised.value.rejections] == ["FORBIDDEN"]
    operator = secure.connect("operator")
    assert refusals(operator, "publisher", "publish") >= 1 and refusals(operator, "consumer", "publish") >= 1


def test_stored_events_carry_the_publishers_principal(secure):
    u = uid()
    topic = f"sec.orders.{u}.created"
    publisher = secure.connect("publisher")
    publisher.publish([make_event(topic, f"{u}-0", "{}", key=f"key-{u}")], timeout=TIMEOUT)
    consumer = secure.connect("consumer")
    consumer.subscribe(f"billing.{u}", f"sec.orders.{u}.>", timeout=TIMEOUT)
    [delivery] = receive_ids(consumer, [f"{u}-0"], TIMEOUT)
    assert delivery.event.headers[PRINCIPAL_HEADER] == "publisher"
    consumer.ack(delivery)
    # The history (admin.history) shows the stored event the same.
    entries = secure.connect("operator")._request("history", pb.HistoryRequest(key=f"key-{u}"), "history_entries",
                                                  TIMEOUT)
    assert [(e.topic, e.event.headers[PRINCIPAL_HEADER]) for e in entries.entries] == [(topic, "publisher")]


def test_a_client_supplied_principal_header_is_rejected(secure):
    u = uid()
    publisher = secure.connect("publisher")
    with pytest.raises(PublishRejected) as raised:
        publisher.publish([make_event(f"sec.orders.{u}.a", f"{u}-0", headers={PRINCIPAL_HEADER: "operator"}),
                           make_event(f"sec.orders.{u}.b", f"{u}-1", headers={"trace": "t-1"})], timeout=TIMEOUT)
    assert [(r.index, r.code_name) for r in raised.value.rejections] == [(0, "INVALID_ARGUMENT")]
    assert "ferry-principal" in raised.value.rejections[0].message
    assert raised.value.offsets[1] is not None


def test_without_security_no_principal_and_the_header_is_still_refused(client):
    require_security_ferryd()
    u = uid()
    assert client.principal is None
    with pytest.raises(PublishRejected) as raised:
        client.publish([make_event(f"plain.{u}", f"{u}-0", headers={PRINCIPAL_HEADER: "someone"}),
                        make_event(f"plain.{u}", f"{u}-1")], timeout=TIMEOUT)
    assert [(r.index, r.code_name) for r in raised.value.rejections] == [(0, "INVALID_ARGUMENT")]
    client.subscribe(f"plain-{u}", f"plain.{u}", timeout=TIMEOUT)
    [delivery] = receive_ids(client, [f"{u}-1"], TIMEOUT)
    assert PRINCIPAL_HEADER not in delivery.event.headers
    client.ack(delivery)


# -- subscribing -------------------------------------------------------------------------------

def test_subscribe_allowed_and_forbidden(secure):
    u = uid()
    consumer = secure.connect("consumer")
    # Allowed: the group matches billing.>, the patterns stay within sec.orders.> and meet no deny.
    consumer.subscribe(f"billing.{u}", [f"sec.orders.{u}.>", f"sec.orders.{u}.*.created"], timeout=TIMEOUT)
    consumer.subscribe(f"billing.{u}.b", "sec.orders.*", timeout=TIMEOUT)  # no topic matches it and the deny
    forbidden = [
        ("shipping", f"sec.orders.{u}.>"),        # group not granted
        ("billing", "sec.>"),                       # pattern wider than the allowed topics
        ("billing", f"sec.payments.{u}"),           # pattern outside them
        ("billing", "sec.orders.*.>"),              # can match sec.orders.secret.x: denied
        ("billing", "sec.orders.secret.x"),         # denied
        ("billing", [f"sec.orders.{u}.>", "sec.other"]),  # one pattern of several
    ]
    for number, (prefix, patterns) in enumerate(forbidden):
        group = f"{prefix}.{u}.f{number}"  # a new group each: nothing but the grants can refuse it
        with pytest.raises(Forbidden) as raised:
            consumer.subscribe(group, patterns, timeout=TIMEOUT)
        assert raised.value.code_name == "FORBIDDEN", (group, patterns)
    with pytest.raises(Forbidden):  # a publisher may not subscribe
        secure.connect("publisher").subscribe(f"billing.{u}", f"sec.orders.{u}.>", timeout=TIMEOUT)
    operator = secure.connect("operator")
    assert refusals(operator, "consumer", "subscribe") >= len(forbidden)


def test_ephemeral_subscriptions_only_need_the_topic_grant(secure):
    u = uid()
    consumer = secure.connect("consumer")
    subscribed = consumer._request("subscribe", pb.Subscribe(patterns=[f"sec.orders.{u}.>"], ephemeral=True),
                                   "subscribed", TIMEOUT)
    assert subscribed.group  # generated: no group grant involved
    with pytest.raises(Forbidden):
        consumer._request("subscribe", pb.Subscribe(patterns=["sec.>"], ephemeral=True), "subscribed", TIMEOUT)


# -- admin commands ----------------------------------------------------------------------------

def test_admin_commands_need_their_grants(secure):
    u = uid()
    group = f"billing.{u}"
    consumer = secure.connect("consumer")
    consumer.subscribe(group, f"sec.orders.{u}.>", timeout=TIMEOUT)  # the group exists
    calls = {
        "dlq_list": lambda c: c.dlq_list(group, timeout=TIMEOUT),
        "dlq_requeue": lambda c: c.dlq_requeue(group, all=True, timeout=TIMEOUT),
        "dlq_purge": lambda c: c.dlq_purge(group, ids=[1], timeout=TIMEOUT),
        "replay": lambda c: c._request("replay", pb.Replay(group=group, beginning=True), "replayed", TIMEOUT),
        "history": lambda c: c._request("history", pb.HistoryRequest(key="k"), "history_entries", TIMEOUT),
        "stats": lambda c: c.stats(timeout=TIMEOUT),
    }
    for principal in ("consumer", "publisher", "nobody"):
        c = consumer if principal == "consumer" else secure.connect(principal)
        for name, call in calls.items():
            with pytest.raises(Forbidden):
                call(c)
                pytest.fail(f"{principal} may {name}")
    operator = secure.connect("operator")
    assert operator.dlq_list(group, timeout=TIMEOUT).total == 0
    assert operator.dlq_requeue(group, all=True, timeout=TIMEOUT) == 0
    assert operator.dlq_purge(group, all=True, timeout=TIMEOUT) == 0
    operator._request("replay", pb.Replay(group=group, end=True), "replayed", TIMEOUT)
    stats = operator.stats(timeout=TIMEOUT)
    assert any(g.name == group for g in stats.groups)
    assert refusals(operator, "consumer", "admin") >= 4
    assert refusals(operator, "consumer", "stats") >= 1 and refusals(operator, "nobody", "history") >= 1


def test_nobody_may_connect_but_do_nothing(secure):
    u = uid()
    nobody = secure.connect("nobody")
    assert nobody.principal == "nobody"
    with pytest.raises(Forbidden):
        nobody.subscribe(f"billing.{u}", f"sec.orders.{u}.>", timeout=TIMEOUT)
    with pytest.raises(PublishRejected) as raised:
        nobody.publish([make_event(f"sec.orders.{u}.a", f"{u}-0")], timeout=TIMEOUT)
    assert raised.value.code == pb.FORBIDDEN


# -- reloading the credentials -----------------------------------------------------------------

def wait_for_end(c: FerryClient, deadline: float, probe=None):
    """Receive until the deadline; return the SubscriptionEnded raised, or what ``probe(c)``
    raised (``Unauthenticated``), whichever comes first; fail at the deadline."""
    while time.monotonic() < deadline:
        try:
            delivery = c.receive(timeout=0.2)
        except SubscriptionEnded as ended:
            return ended
        if delivery is not None:
            c.ack(delivery)
        if probe is not None:
            try:
                probe(c)
            except Unauthenticated as error:
                return error
    pytest.fail(f"the broker did not end the session within {RELOAD_DEADLINE} s of the reload")


def unknown_unsubscribe(c: FerryClient) -> None:
    """A command every authenticated connection may send: ``UNKNOWN_SUBSCRIPTION`` until the
    connection's key is revoked, ``UNAUTHENTICATED`` after."""
    with pytest.raises(BrokerError) as raised:
        c._request("unsubscribe", pb.Unsubscribe(subscription_id=0xFFFFFF), "unsubscribed", TIMEOUT)
    if isinstance(raised.value, Unauthenticated):
        raise raised.value
    assert raised.value.code_name == "UNKNOWN_SUBSCRIPTION"


def test_a_reload_revoking_a_grant_ends_that_subscription(own_broker):
    u = uid()
    broker = own_broker(GRANTS)
    publisher, consumer = broker.connect("publisher"), broker.connect("consumer")
    revoked = consumer.subscribe(f"billing.{u}.a", f"sec.orders.{u}.a.>", timeout=TIMEOUT).subscription_id
    kept = consumer.subscribe(f"billing.{u}.b", f"sec.orders.{u}.b.>", timeout=TIMEOUT).subscription_id
    publisher.publish([make_event(f"sec.orders.{u}.a.x", f"{u}-a0"), make_event(f"sec.orders.{u}.b.x", f"{u}-b0")],
                      timeout=TIMEOUT)
    for delivery in receive_ids(consumer, [f"{u}-a0", f"{u}-b0"], TIMEOUT):
        consumer.ack(delivery)

    narrower = dict(GRANTS, consumer={"allow": {"subscribe": {"topics": [f"sec.orders.{u}.b.>"],
                                                              "groups": ["billing.>"]}}})
    broker.reload(narrower)
    ended = wait_for_end(consumer, time.monotonic() + RELOAD_DEADLINE)
    assert isinstance(ended, SubscriptionEnded), ended
    assert (ended.subscription_id, ended.code_name, ended.group) == (revoked, "FORBIDDEN", f"billing.{u}.a")
    assert consumer.subscriptions_ended == [ended]

    # The kept subscription goes on; the revoked one delivers nothing; subscribing again is refused.
    publisher.publish([make_event(f"sec.orders.{u}.a.x", f"{u}-a1"), make_event(f"sec.orders.{u}.b.x", f"{u}-b1")],
                      timeout=TIMEOUT)
    [delivery] = receive_ids(consumer, [f"{u}-b1"], TIMEOUT)
    assert delivery.subscription_id == kept
    consumer.ack(delivery)
    assert consumer.receive(timeout=0.5) is None
    with pytest.raises(Forbidden):
        consumer.subscribe(f"billing.{u}.a", f"sec.orders.{u}.a.>", timeout=TIMEOUT)
    assert consumer.principal == "consumer"


def test_a_reload_removing_a_key_ends_its_live_session(own_broker):
    u = uid()
    broker = own_broker(GRANTS)
    publisher, consumer = broker.connect("publisher"), broker.connect("consumer")
    subscription = consumer.subscribe(f"billing.{u}", f"sec.orders.{u}.>", timeout=TIMEOUT).subscription_id
    unknown_unsubscribe(consumer)  # answered UNKNOWN_SUBSCRIPTION while the key is known

    broker.reload({name: grant for name, grant in GRANTS.items() if name != "consumer"})
    ended = wait_for_end(consumer, time.monotonic() + RELOAD_DEADLINE, unknown_unsubscribe)
    assert ended.code_name in ("UNAUTHENTICATED", "FORBIDDEN"), ended
    # However the broker said so, the client knows its subscription is gone (no resume renews it).
    assert [e.subscription_id for e in consumer.subscriptions_ended] == [subscription]
    assert consumer.subscriptions_ended[0].code_name in ("UNAUTHENTICATED", "FORBIDDEN")
    # From now on every command of that connection is refused, a publish as a whole.
    with pytest.raises(Unauthenticated):
        unknown_unsubscribe(consumer)
    with pytest.raises(PublishRejected) as raised:
        consumer.publish([make_event(f"sec.orders.{u}.x", f"{u}-0")], timeout=TIMEOUT)
    assert [r.code_name for r in raised.value.rejections] == ["UNAUTHENTICATED"]
    # New connections with the key fail at the handshake; the other principals are unaffected.
    no_answer(broker.connect("consumer", hello=False))
    assert publisher.publish([make_event(f"sec.orders.{u}.y", f"{u}-1")], timeout=TIMEOUT)[0] >= 0
    assert broker.connect("operator").principal == "operator"


def test_a_broken_credentials_file_on_reload_keeps_the_previous_one(own_broker):
    u = uid()
    broker = own_broker(GRANTS)
    operator = broker.connect("operator")
    broker.credentials.write_text("principals:\n  - name: consumer\n    keyz: []\n")  # unknown field
    broker.ferryd.process.send_signal(signal.SIGHUP)

    def failed_reloads():
        text = operator.stats(timeout=TIMEOUT).prometheus_text
        return metric(text, "ferry_credentials_reloads_total", result="failed")

    assert wait_until(failed_reloads, RELOAD_DEADLINE, 0.1), operator.stats(timeout=TIMEOUT).prometheus_text
    consumer = broker.connect("consumer")  # still known
    assert consumer.principal == "consumer"
    consumer.subscribe(f"billing.{u}", f"sec.orders.{u}.>", timeout=TIMEOUT)
    assert broker.ferryd.process.poll() is None
