"""After a silence longer than the peer timeout, a broker answers again with the same broker id:
did it keep the session? Scripted against a fake broker that either kept it (heartbeats of its
own, one per interval) or ended it (it answers each heartbeat of what is now a connection without
a session with a ``no_session`` heartbeat, section 10.4 of the protocol), so that both outcomes
are certain; test_restart.py has the same with a real ferryd frozen by SIGSTOP.
"""
import threading
import time

import pytest
import zmq

from support import uid, wait_until  # (also puts the client on sys.path)

from ferry_client import SIGNATURE, BrokerDead, FerryClient, commands_pb2 as pb

BROKER_ID = "fake-run-1"


class SessionFake(threading.Thread):
    """A ROUTER that plays ferryd for one client: Welcome (100 ms heartbeats, 500 ms peer
    timeout), Subscribed, Deliver on request, heartbeats. ``mode``: ``session`` (heartbeats of its
    own when idle for an interval), ``silent`` (sends nothing), ``ended`` (answers every Heartbeat
    at once with ``no_session``, as for a connection without a session, until the next Hello)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.socket = zmq.Context.instance().socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"tcp://127.0.0.1:{self.socket.bind_to_random_port('tcp://127.0.0.1')}"
        self.mode, self.peer, self.last_sent = "session", None, 0.0
        self.received, self.acks, self.outbox = [], [], []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.next_subscription = 0

    def send(self, **reply):
        self.socket.send_multipart([self.peer, SIGNATURE, pb.ServerMessage(**reply).SerializeToString()])
        self.last_sent = time.monotonic()

    def deliver(self, delivery_id: int) -> None:
        with self.lock:
            self.outbox.append(pb.Deliver(deliveries=[pb.Delivery(subscription_id=self.next_subscription,
                                                                  delivery_id=delivery_id, attempt=1)]))

    def commands(self):
        with self.lock:
            return [kind for kind, _ in self.received]

    def run(self):
        while not self.stop.is_set():
            if self.socket.poll(10):
                self.peer, _, body = self.socket.recv_multipart()
                message = pb.ClientMessage.FromString(body)
                kind = message.WhichOneof("command")
                with self.lock:
                    self.received.append((kind, time.monotonic()))
                if kind == "hello":
                    self.mode = "session" if self.mode == "ended" else self.mode
                    self.send(request_id=message.request_id, welcome=pb.Welcome(
                        protocol_version=1, heartbeat_interval_ms=100, peer_timeout_ms=500, max_payload_bytes=1024,
                        max_batch=16, broker_id=BROKER_ID))
                elif kind == "subscribe":
                    self.next_subscription += 1
                    self.send(request_id=message.request_id, subscribed=pb.Subscribed(
                        subscription_id=self.next_subscription, group=message.subscribe.group, max_in_flight=10))
                elif kind == "settle":
                    self.acks.extend(message.settle.acks)
                elif kind == "heartbeat" and self.mode == "ended":
                    self.send(heartbeat=pb.Heartbeat(broker_id=BROKER_ID, no_session=True))
            if self.peer is None or self.mode == "silent":
                continue
            with self.lock:
                outbox, self.outbox = self.outbox, []
            for deliver in outbox:
                self.send(deliver=deliver)
            if self.mode == "session" and time.monotonic() - self.last_sent >= 0.1:
                self.send(heartbeat=pb.Heartbeat(broker_id=BROKER_ID))
        self.socket.close()


@pytest.fixture
def fake():
    broker = SessionFake()
    broker.start()
    yield broker
    broker.stop.set()
    broker.join(2)


def held_delivery_then_silence(fake: SessionFake) -> tuple:
    client = FerryClient(fake.endpoint, "pytest-session-check")
    client.subscribe(f"g-{uid()}", "t.x")
    fake.deliver(7)
    delivery = client.receive(timeout=2)
    assert delivery is not None and delivery.delivery_id == 7
    fake.mode = "silent"
    client.poll(0.8)  # past the 500 ms peer timeout
    assert client._silent_since is not None
    return client, delivery


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "ended"])
def test_same_broker_id_after_a_silence(fake, kept):
    client, delivery = held_delivery_then_silence(fake)
    try:
        fake.mode = "session" if kept else "ended"
        assert wait_until(lambda: client.poll(0.05) or client._silent_since is None, 2), "no answer"
        client.ack(delivery)
        client.poll(0.1)
        if kept:
            assert client.resumes == 0 and "goodbye" not in fake.commands()
            assert wait_until(lambda: 7 in fake.acks, 1), fake.acks  # the ack made after the silence settles
        else:
            assert client.resumes == 1
            commands = fake.commands()
            assert commands.count("hello") == 2 and commands.count("subscribe") == 2 and "goodbye" in commands
            assert fake.acks == []  # of the ended session: dropped
            fake.deliver(8)
            again = client.receive(timeout=2)
            assert again is not None and again.delivery_id >> 48 == 1 and again.subscription_id == 1
    finally:
        client.close()


def test_without_auto_resume_an_ended_session_raises_broker_dead(fake):
    client = FerryClient(fake.endpoint, "pytest-session-check", auto_resume=False)
    try:
        client.subscribe(f"g-{uid()}", "t.x")
        fake.mode = "ended"
        deadline = time.monotonic() + 3
        with pytest.raises(BrokerDead, match="ended this session"):
            while time.monotonic() < deadline:  # the next heartbeat's answer raises
                client.poll(0.05)
        assert "goodbye" not in fake.commands()
    finally:
        client.close()
