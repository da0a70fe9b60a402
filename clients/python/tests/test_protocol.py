"""The wire format and the protocol's basics with the Python client: the spec's byte examples,
a client's timers against a scripted broker, and ferryd's answers to good and bad input."""
import threading
import time

import pytest
import zmq

from support import uid, wait_until  # (also puts the client on sys.path)

from ferry_client import (  # noqa: E402
    SIGNATURE, BrokerDead, FerryClient, PublishRejected, commands_pb2 as pb, make_event,
)
from google.protobuf.message import DecodeError  # noqa: E402

E = pb.ErrorCode
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
    # A frame 2 that fails to decode after its request_id still says which request failed.
    expected_id = 424242 if case == "truncated protobuf" else 0
    assert (reply.request_id, E.Name(reply.error.code)) == (expected_id, "MALFORMED_FRAME")
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
