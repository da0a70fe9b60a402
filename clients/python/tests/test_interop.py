"""Protocol and interop tests of the Python Ferry client against a real ``ferryd``.

Environment:
  FERRYD         path of the broker binary (default <repo>/.build/debug/ferryd)
  FERRY_INTEROP  path of the Swift interop tool (default <repo>/.build/debug/ferry-interop);
                 the interop tests are skipped if it does not exist.
  FERRYD_WAIT_SECONDS  how long to wait for a missing ferryd binary (rebuild in progress), default 15.
"""
import json
import os
import subprocess
import threading
import time

import pytest
import zmq

from support import (
    FERRYD, REPO, STARTUP_TIMEOUT, group_stats, require_ferryd, uid, wait_group_settled, wait_until,
)

from ferry_client import (  # noqa: E402
    SIGNATURE, BrokerDead, BrokerError, FerryClient, PublishRejected, commands_pb2 as pb, make_event,
)
from google.protobuf.message import DecodeError  # noqa: E402

FERRY_INTEROP = os.environ.get("FERRY_INTEROP", str(REPO / ".build" / "debug" / "ferry-interop"))
E = pb.ErrorCode


# --- fixtures -------------------------------------------------------------------------------

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
             "--data-dir", str(workdir / "data")],
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


# --- wire format (no broker) ----------------------------------------------------------------

def test_encoding_matches_spec_examples():
    """Section 4.4 / 14 byte examples."""
    assert SIGNATURE == bytes([0x46, 0x52, 0x59, 0x01])
    hello = pb.ClientMessage(request_id=1, hello=pb.Hello(client_name="w1"))
    assert hello.SerializeToString() == bytes.fromhex("0801 5204 0a02 7731")
    assert pb.ClientMessage(heartbeat=pb.Heartbeat()).SerializeToString() == bytes.fromhex("7a00")
    assert pb.ClientMessage(settle=pb.Settle(acks=[2])).SerializeToString() == bytes.fromhex("7203 0a01 02")
    assert pb.ClientMessage(goodbye=pb.Goodbye()).SerializeToString() == bytes.fromhex("a201 00")


class FakeBroker(threading.Thread):
    """A scripted ROUTER: answers Hello with a Welcome of short timers, records what it gets,
    optionally sends extra raw messages after the Welcome, then stays silent."""

    def __init__(self, extra=()):
        super().__init__(daemon=True)
        self.socket = zmq.Context.instance().socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.extra, self.received, self.stop = list(extra), [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            if not self.socket.poll(20):
                continue
            peer, *frames = self.socket.recv_multipart()
            message = pb.ClientMessage.FromString(frames[1])
            self.received.append((time.monotonic(), message.WhichOneof("command")))
            if message.WhichOneof("command") == "hello":
                welcome = pb.Welcome(protocol_version=1, server_version="fake", heartbeat_interval_ms=100,
                                     peer_timeout_ms=600, max_payload_bytes=10, max_batch=2)
                reply = pb.ServerMessage(request_id=message.request_id, welcome=welcome)
                self.socket.send_multipart([peer, SIGNATURE, reply.SerializeToString()])
                for frames_out in self.extra:
                    self.socket.send_multipart([peer] + frames_out)
        self.socket.close()


def test_client_heartbeats_discards_junk_and_detects_dead_broker():
    delivery = pb.ServerMessage(deliver=pb.Deliver(deliveries=[pb.Delivery(subscription_id=1, delivery_id=9)]))
    junk = [[SIGNATURE], [b"FRY\x02", delivery.SerializeToString()], [SIGNATURE, b"\xff\xff"],
            [SIGNATURE, bytes.fromhex("08 01 f8 06 01")],  # only an unknown reply field: ignored
            [SIGNATURE, delivery.SerializeToString()]]
    fake = FakeBroker(extra=junk)
    fake.start()
    client = FerryClient(fake.endpoint, "pytest-fake")
    try:
        assert (client.heartbeat_interval, client.peer_timeout) == (0.1, 0.6)
        # Only the well-formed Deliver gets through.
        first = client.receive(timeout=1)
        assert first is not None and first.delivery_id == 9
        started = time.monotonic()
        with pytest.raises(BrokerDead):
            client.receive(timeout=3)
        assert 0.4 < time.monotonic() - started < 1.5
        beats = [t for t, kind in fake.received if kind == "heartbeat"]
        assert len(beats) >= 4, f"client sent {len(beats)} heartbeats in ~0.6 s at a 100 ms interval"
        assert all(b - a < 0.2 for a, b in zip(beats, beats[1:]))
    finally:
        client.close()
        said_goodbye = wait_until(lambda: fake.received[-1][1] == "goodbye", 2)
        fake.stop.set()
        fake.join(2)
    assert said_goodbye


# --- protocol basics against ferryd ---------------------------------------------------------

def test_hello_welcome(client):
    welcome = client.hello()
    assert welcome.protocol_version == 1
    assert welcome.server_version
    # ferryd runs without configuration, so the section 5.2 defaults are in effect.
    assert welcome.heartbeat_interval_ms == 1000
    assert welcome.peer_timeout_ms == 5000
    assert welcome.max_payload_bytes == 1048576
    assert welcome.max_batch == 4096


def test_publish_500_all_confirmed_with_increasing_offsets(client):
    topic = f"py.bulk.{uid()}"
    events = [make_event(topic, f"e-{i}", f'{{"i": {i}}}', content_type="application/json") for i in range(500)]
    offsets = client.publish(events, batch_size=64)  # 8 pipelined Publish commands
    assert len(offsets) == 500 and all(isinstance(o, int) for o in offsets)
    assert all(a < b for a, b in zip(offsets, offsets[1:])), "offsets not strictly increasing"
    topic_stats = [t for t in client.stats().topics if t.name == topic]
    assert len(topic_stats) == 1 and topic_stats[0].next_offset > offsets[-1]


HELLO_BYTES = pb.ClientMessage(request_id=424242, hello=pb.Hello(client_name="raw")).SerializeToString()
MALFORMED = {
    "one frame": [SIGNATURE],
    "three frames": [SIGNATURE, HELLO_BYTES, b""],
    "short signature": [b"FRY", HELLO_BYTES],
    "long signature": [SIGNATURE + b"\x00", HELLO_BYTES],
    "wrong magic": [b"FRZ\x01", HELLO_BYTES],
    "garbage protobuf": [SIGNATURE, b"\xff\xff\xff\xff\xff"],
    "truncated protobuf": [SIGNATURE, HELLO_BYTES[:-3]],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_message_gets_malformed_frame_and_broker_keeps_serving(client, case):
    frames = MALFORMED[case]
    if case.endswith("protobuf"):
        with pytest.raises(DecodeError):  # make sure the case really is undecodable
            pb.ClientMessage.FromString(frames[1])
    client.send_raw(frames)
    reply = client.next_unsolicited_error(timeout=3)
    assert reply is not None, f"no Error for {case}"
    assert (reply.request_id, E.Name(reply.error.code)) == (0, "MALFORMED_FRAME")
    assert client.hello(timeout=3).protocol_version == 1  # still served
    assert not client.unsolicited_errors


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_byte_gets_unsupported_version(client, version):
    client.send_raw([b"FRY" + bytes([version]), HELLO_BYTES])
    reply = client.next_unsolicited_error(timeout=3)
    assert reply is not None
    assert (reply.request_id, E.Name(reply.error.code)) == (0, "UNSUPPORTED_VERSION")
    assert client.hello(timeout=3).protocol_version == 1


def test_no_command_gets_unknown_command(client):
    client.send_raw([SIGNATURE, b""])  # empty ClientMessage: request_id 0
    reply = client.next_unsolicited_error(timeout=3)
    assert reply is not None and (reply.request_id, E.Name(reply.error.code)) == (0, "UNKNOWN_COMMAND")
    # request_id 777777 plus an unknown field 99 (a command from the future): request_id echoed.
    client.send_raw([SIGNATURE, bytes.fromhex("08b1bc2f") + bytes([0x98, 0x06, 0x01])])
    reply = client.next_unsolicited_error(timeout=3)
    assert reply is not None and (reply.request_id, E.Name(reply.error.code)) == (777777, "UNKNOWN_COMMAND")


def test_oversized_payload_rejected_while_rest_of_batch_confirmed(client):
    limit = client.welcome.max_payload_bytes
    topic = f"py.big.{uid()}"
    events = [make_event(topic, "small-1", b"x"), make_event(topic, "too-big", b"x" * (limit + 1)),
              make_event(topic, "at-limit", b"x" * limit), make_event(topic, "small-2", b"y")]
    with pytest.raises(PublishRejected) as info:
        client.publish(events)
    rejected = info.value
    assert [(r.index, r.event_id, r.code_name) for r in rejected.rejections] == [(1, "too-big", "PAYLOAD_TOO_LARGE")]
    assert rejected.code_name == "PAYLOAD_TOO_LARGE" and rejected.message
    assert rejected.offsets[1] is None
    confirmed = [rejected.offsets[i] for i in (0, 2, 3)]
    assert all(isinstance(o, int) for o in confirmed) and confirmed == sorted(set(confirmed))


def test_missing_and_invalid_fields_rejected_per_item(client):
    topic = f"py.fields.{uid()}"
    events = [make_event(topic, "ok-1"), make_event("", "no-topic"), make_event(topic, ""),
              make_event("orders..x", "bad-topic"), make_event(topic, "i" * 256), make_event(topic, "ok-2")]
    with pytest.raises(PublishRejected) as info:
        client.publish(events)
    assert [(r.index, r.code_name) for r in info.value.rejections] == [
        (1, "MISSING_FIELD"), (2, "MISSING_FIELD"), (3, "INVALID_ARGUMENT"), (4, "INVALID_ARGUMENT")]
    assert info.value.offsets[0] < info.value.offsets[5]


def test_item_without_event_and_oversized_batch(raw, client):
    peer = raw()
    peer.send(1, publish=pb.Publish(items=[pb.PublishItem(sequence=5)]))
    reply = peer.recv(3)
    assert reply is not None and reply.request_id == 1, reply
    result = reply.publish_result
    assert list(result.confirmed) == [] and [(r.sequence, E.Name(r.code)) for r in result.rejected] == [(5, "MISSING_FIELD")]

    topic = f"py.batch.{uid()}"
    too_many = client.welcome.max_batch + 1
    items = [pb.PublishItem(sequence=i + 1, event=make_event(topic, f"b-{i}")) for i in range(too_many)]
    peer.send(2, publish=pb.Publish(items=items))
    reply = peer.recv(5)
    assert reply is not None and reply.request_id == 2 and E.Name(reply.error.code) == "BATCH_TOO_LARGE", reply
    assert not [t for t in client.stats().topics if t.name == topic and t.next_offset > 0], "batch was partly stored"

    peer.send(3, publish=pb.Publish())
    reply = peer.recv(3)
    assert reply.request_id == 3 and reply.WhichOneof("reply") == "publish_result"
    assert not reply.publish_result.confirmed and not reply.publish_result.rejected


def test_idempotent_republish_confirms_same_offset(client):
    topic = f"py.dedup.{uid()}"
    first = client.publish([make_event(topic, "dup-1", b"original")])[0]
    other = client.publish([make_event(topic, "other", b"")])[0]
    again = client.publish([make_event(topic, "dup-1", b"changed payload")])[0]
    assert again == first != other
    pair = client.publish([make_event(topic, "dup-2"), make_event(topic, "dup-2")])  # duplicate within a batch
    assert pair[0] == pair[1] > other
    # A consumer sees the original event once.
    client.subscribe(f"g-dedup-{uid()}", topic)
    seen = [d for d in client.deliveries(idle_timeout=0.5)]
    client.ack(*seen)
    assert [d.event.id for d in seen].count("dup-1") == 1
    assert next(d for d in seen if d.event.id == "dup-1").event.payload == b"original"


def test_subscribe_consume_ack_round_trip_with_credit(client):
    topic, group = f"py.round.{uid()}", f"g-round-{uid()}"
    events = [make_event(topic, f"r-{i}", json.dumps({"i": i}), key=f"k{i % 3}", type="Ping", schema_version=2,
                         content_type="application/json", headers={"h": str(i)}, correlation_id="corr",
                         causation_id=f"c-{i}", created_at_us=1_700_000_000_000_000 + i) for i in range(50)]
    offsets = client.publish(events)
    subscribed = client.subscribe(group, "py.round.*", max_in_flight=16, member_name="pytest")
    assert subscribed.max_in_flight == 16 and subscribed.effective_retry.max_attempts == 5

    held = [client.receive(timeout=3) for _ in range(16)]
    assert all(held), "fewer than 16 deliveries within 3 s"
    assert client.receive(timeout=0.5) is None, "broker exceeded the credit of 16"
    client.ack(*held)
    received = {d.event.id: d for d in held}
    for delivery in client.deliveries(idle_timeout=1.0):
        received[delivery.event.id] = delivery
        client.ack(delivery)
        if len(received) == 50:
            break
    assert sorted(received) == sorted(e.id for e in events)
    for event, offset in zip(events, offsets):
        d = received[event.id]
        assert (d.subscription_id, d.attempt, d.offset, d.last_error) == (subscribed.subscription_id, 1, offset, "")
        assert d.event.stored_at_us > 0
        d.event.stored_at_us = 0
        assert d.event == event
    stats = wait_group_settled(client, group)
    assert (stats.members, stats.lag, stats.pending_retries) == (1, 0, 0)


def test_nack_with_delay_is_redelivered_with_next_attempt(client):
    topic, group = f"py.retry.{uid()}", f"g-retry-{uid()}"
    client.subscribe(group, topic)
    client.publish([make_event(topic, "flaky")])
    first = client.receive(timeout=3)
    assert first is not None and first.attempt == 1
    client.nack(first, error="temporary failure", delay_ms=100)
    second = client.receive(timeout=3)
    assert second is not None and second.event.id == "flaky"
    assert (second.attempt, second.last_error) == (2, "temporary failure")
    assert second.delivery_id != first.delivery_id
    client.ack(second)
    wait_group_settled(client, group)


def test_dead_letter_list_requeue_purge(client):
    topic, group = f"py.dlq.{uid()}", f"g-dlq-{uid()}"
    client.subscribe(group, topic)
    client.publish([make_event(topic, "poison", b"bad")])
    delivery = client.receive(timeout=3)
    assert delivery is not None
    client.nack(delivery, dead_letter=True, error="cannot parse")

    entries = wait_until(lambda: client.dlq_list(group).entries, 3, 0.05)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.group, entry.event.id, entry.offset) == (group, "poison", delivery.offset)
    assert (pb.DeadLetterReason.Name(entry.reason), entry.attempts, entry.last_error) == ("REJECTED", 1, "cannot parse")
    assert entry.dead_lettered_at_us > 0 and client.dlq_list(group).total == 1
    assert group_stats(client, group).dead_letters == 1
    assert client.dlq_list(group, after_id=entry.id).entries == []

    assert client.dlq_requeue(group, ids=[entry.id, entry.id + 1000]) == 1
    again = client.receive(timeout=3)
    assert again is not None and again.event.id == "poison" and again.attempt == 1
    client.nack(again, dead_letter=True, error="still bad")
    second = wait_until(lambda: client.dlq_list(group).entries, 3, 0.05)
    assert len(second) == 1 and second[0].id > entry.id, "dead-letter ids must never be reused"

    assert client.dlq_purge(group, all=True) == 1
    listing = client.dlq_list(group)
    assert (list(listing.entries), listing.total) == ([], 0)


def test_command_errors(client):
    with pytest.raises(BrokerError) as info:
        client.subscribe("", "a.b")
    assert info.value.code_name == "MISSING_FIELD"
    with pytest.raises(BrokerError) as info:
        client.subscribe(f"g-{uid()}", [])
    assert info.value.code_name == "MISSING_FIELD"
    for bad_pattern in ["orders.>.x", "orders.*x", ".orders"]:
        with pytest.raises(BrokerError) as info:
            client.subscribe(f"g-{uid()}", bad_pattern)
        assert info.value.code_name == "INVALID_ARGUMENT", bad_pattern
    with pytest.raises(BrokerError) as info:
        client.subscribe("bad group!", "a.b")
    assert info.value.code_name == "INVALID_ARGUMENT"
    with pytest.raises(BrokerError) as info:
        client.unsubscribe(987654)
    assert info.value.code_name == "UNKNOWN_SUBSCRIPTION"
    for command in (client.dlq_list, client.dlq_purge, client.dlq_requeue):
        with pytest.raises(BrokerError) as info:
            command(f"no-such-group-{uid()}")
        assert info.value.code_name == "UNKNOWN_GROUP"
        assert info.value.message


def test_unsubscribe(client):
    topic, group = f"py.unsub.{uid()}", f"g-unsub-{uid()}"
    sub = client.subscribe(group, topic)
    client.unsubscribe(sub.subscription_id)
    assert group_stats(client, group).members == 0
    client.publish([make_event(topic, "after")])
    assert client.receive(timeout=0.5) is None


def test_heartbeats_keep_idle_session_alive(client):
    client.poll(2.5)  # idle: both sides must heartbeat
    assert client.heartbeats_received >= 1
    assert client.hello(timeout=2).protocol_version == 1


def test_goodbye_hands_unsettled_deliveries_to_other_member(raw, client):
    topic, group = f"py.bye.{uid()}", f"g-bye-{uid()}"
    peer = raw()
    peer.send(1, subscribe=pb.Subscribe(group=group, patterns=[topic]))
    assert peer.recv(3).WhichOneof("reply") == "subscribed"
    client.publish([make_event(topic, "handover")])
    delivery = peer.recv(3)
    assert delivery is not None and delivery.deliver.deliveries[0].event.id == "handover"
    client.subscribe(group, topic)
    peer.send(goodbye=pb.Goodbye())
    redelivered = client.receive(timeout=3)
    assert redelivered is not None and redelivered.event.id == "handover" and redelivered.attempt == 2
    client.ack(redelivered)
    stats = wait_group_settled(client, group)
    assert stats.members == 1


def test_goodbye_ends_session(raw, client):
    before = client.stats().connections
    peer = raw()
    peer.send(1, hello=pb.Hello(client_name="short-lived"))
    assert peer.recv(3).WhichOneof("reply") == "welcome"
    assert client.stats().connections == before + 1
    peer.send(goodbye=pb.Goodbye())
    assert wait_until(lambda: client.stats().connections == before, 2, 0.05), "session still counted after Goodbye"


def test_silent_peer_is_declared_dead(raw, client):
    topic, group = f"py.silent.{uid()}", f"g-silent-{uid()}"
    peer = raw()
    peer.send(1, subscribe=pb.Subscribe(group=group, patterns=[topic]))
    assert peer.recv(3).WhichOneof("reply") == "subscribed"
    client.publish([make_event(topic, "orphan")])
    assert peer.recv(3).deliver.deliveries[0].event.id == "orphan"
    client.subscribe(group, topic)
    started = time.monotonic()  # the peer now stays silent; the client keeps heartbeating
    redelivered = client.receive(timeout=client.peer_timeout + 3)
    assert redelivered is not None, "silent peer's delivery never handed over"
    assert redelivered.event.id == "orphan" and redelivered.attempt == 2
    assert time.monotonic() - started > client.peer_timeout - 2  # not before it could be declared dead
    client.ack(redelivered)
    assert group_stats(client, group).members == 1


def test_subscribe_credit_and_retry_defaults(client):
    assert client.subscribe(f"g-cap-{uid()}", "cap.a", max_in_flight=20000).max_in_flight == 10000
    assert client.subscribe(f"g-def-{uid()}", "cap.b").max_in_flight == 256
    sub = client.subscribe(f"g-pol-{uid()}", "cap.c", retry={"max_attempts": 2, "initial_delay_ms": 50})
    retry = sub.effective_retry
    assert (retry.initial_delay_ms, retry.multiplier_permille, retry.max_delay_ms, retry.max_attempts,
            retry.jitter_permille, retry.ack_timeout_ms) == (50, 2000, 60000, 2, 200, 30000)
    # The policy is fixed when the group is created.
    assert client.subscribe(sub_group := f"g-fixed-{uid()}", "cap.d").effective_retry.max_attempts == 5
    assert client.subscribe(sub_group, "cap.d", retry={"max_attempts": 3}).effective_retry.max_attempts == 5


def test_pattern_matching_fan_out_and_start_position(client):
    token = f"pat{uid()}"
    base = f"py.{token}"
    groups = {f"g-one-{uid()}": f"{base}.*", f"g-many-{uid()}": f"{base}.>", f"g-mid-{uid()}": f"*.{token}.*.created"}
    subs = {client.subscribe(g, p).subscription_id: g for g, p in groups.items()}
    client.publish([make_event(base, "bare"), make_event(f"{base}.x", "one"), make_event(f"{base}.x.created", "two")])
    late = f"g-late-{uid()}"
    subs[client.subscribe(late, f"{base}.>", start=pb.START_LATEST).subscription_id] = late
    client.publish([make_event(f"{base}.y", "after-latest")])
    got = {g: set() for g in subs.values()}
    for d in client.deliveries(idle_timeout=0.7):
        got[subs[d.subscription_id]].add(d.event.id)
        client.ack(d)
    one, many, mid = groups
    assert got[one] == {"one", "after-latest"}
    assert got[many] == {"one", "two", "after-latest"}
    assert got[mid] == {"two"}
    assert got[late] == {"after-latest"}


def test_keyed_events_stick_to_one_member_in_order(endpoint, client):
    topic, group = f"py.keys.{uid()}", f"g-keys-{uid()}"
    other = FerryClient(endpoint, "pytest-keys-2")
    try:
        members = {client.subscribe(group, topic).subscription_id: client,
                   other.subscribe(group, topic).subscription_id: other}
        assert len(members) <= 2
        client.publish([make_event(topic, f"e{i}", key=f"key-{i % 6}") for i in range(60)])
        seen = {}  # key -> list of (member, index)
        deadline = time.monotonic() + 5
        count = 0
        while count < 60 and time.monotonic() < deadline:
            for member in (client, other):
                d = member.receive(timeout=0.05)
                if d is not None:
                    count += 1
                    seen.setdefault(d.event.key, []).append((id(member), int(d.event.id[1:])))
                    member.ack(d)
        assert count == 60
        for key, items in seen.items():
            assert len({m for m, _ in items}) == 1, f"{key} delivered to two members"
            indexes = [i for _, i in items]
            assert indexes == sorted(indexes), f"{key} out of order: {indexes}"
    finally:
        other.close()


def test_max_attempts_dead_letters_and_paging(client):
    topic, group = f"py.maxatt.{uid()}", f"g-maxatt-{uid()}"
    client.subscribe(group, topic, retry={"max_attempts": 2, "initial_delay_ms": 20, "jitter_permille": 1})
    client.publish([make_event(topic, f"fail-{i}") for i in range(3)])
    attempts = []
    for d in client.deliveries(idle_timeout=1.0):
        attempts.append((d.event.id, d.attempt))
        client.nack(d, error=f"boom {d.attempt}")
    assert sorted(attempts) == sorted((f"fail-{i}", a) for i in range(3) for a in (1, 2))
    listing = wait_until(lambda: (lambda r: r if r.total == 3 else None)(client.dlq_list(group)), 3, 0.05)
    assert listing, client.dlq_list(group)
    assert {(pb.DeadLetterReason.Name(e.reason), e.attempts, e.last_error) for e in listing.entries} == {
        ("MAX_ATTEMPTS", 2, "boom 2")}
    page1 = client.dlq_list(group, limit=2)
    page2 = client.dlq_list(group, after_id=page1.entries[-1].id, limit=2)
    assert (len(page1.entries), len(page2.entries), page1.total, page2.total) == (2, 1, 3, 3)
    ids = [e.id for e in page1.entries] + [e.id for e in page2.entries]
    assert ids == sorted(set(ids))
    assert client.dlq_purge(group, ids=[ids[0]]) == 1
    assert client.dlq_requeue(group, all=True) == 2
    requeued = [client.receive(timeout=3) for _ in range(2)]
    assert all(d is not None and d.attempt == 1 for d in requeued)
    client.ack(*requeued)
    assert client.dlq_list(group).total == 0
    wait_group_settled(client, group)


def test_ack_timeout_redelivers(client):
    topic, group = f"py.acktimeout.{uid()}", f"g-acktimeout-{uid()}"
    client.subscribe(group, topic, retry={"ack_timeout_ms": 300, "initial_delay_ms": 10, "jitter_permille": 1})
    client.publish([make_event(topic, "slow")])
    first = client.receive(timeout=3)
    assert first is not None and first.attempt == 1
    second = client.receive(timeout=3)  # not settled: the ack timeout fails attempt 1
    assert second is not None and second.event.id == "slow" and second.attempt == 2 and second.last_error
    client.ack(first)  # late: ignored, no error
    client.ack(second, second)  # settled twice: ignored
    client.nack(123456789)  # unknown delivery id: ignored
    assert client.next_unsolicited_error(timeout=0.3) is None
    assert client.receive(timeout=0.5) is None
    wait_group_settled(client, group)


def test_sequential_requests_are_answered_promptly(client):
    """Catches lost wake-ups (a reply held until the next heartbeat tick) on either side."""
    worst = 0.0
    for _ in range(300):
        started = time.monotonic()
        client.hello(timeout=2)
        worst = max(worst, time.monotonic() - started)
    assert worst < 0.5, f"slowest of 300 Hello round trips took {worst:.3f} s"


def test_stats_fields(client):
    stats = client.stats()
    assert stats.connections >= 1
    assert stats.prometheus_text.strip()


# --- interop with the Swift SDK -------------------------------------------------------------

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
