"""The Python client across real ferryd restarts (SIGTERM and kill -9) with ``auto_resume``.

Each test runs its own ferryd on a fixed free loopback port with its own data directory, so that
the broker can be stopped and started again where the client expects it. Environment: ``FERRYD``
(default <repo>/.build/debug/ferryd), ``FERRYD_WAIT_SECONDS`` as in test_interop.py.
"""
import collections
import logging
import pathlib
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from support import FERRYD, STARTUP_TIMEOUT, group_stats, require_ferryd, uid, wait_group_settled, wait_until

from ferry_client import (  # noqa: E402
    BrokerDead, BrokerRestarted, FerryClient, RequestTimeout, make_event,
)

EPOCH_SHIFT = 48


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ferryd:
    """One ferryd on a fixed port and data directory that can be stopped and started again."""

    def __init__(self, workdir: pathlib.Path, *args: str):
        self.workdir, self.args = workdir, args
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.log_path = workdir / "ferryd.log"
        self.process = None
        self.runs = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "ferryd is still running"
        self.runs += 1
        endpoint_file = self.workdir / f"endpoint-{self.runs}"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [FERRYD, "--endpoint", self.endpoint, "--endpoint-file", str(endpoint_file),
                 "--data-dir", str(self.workdir / "data"), *self.args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"ferryd exited with {self.process.returncode}:\n{self.log()}")
            return endpoint_file.exists() and endpoint_file.read_text().strip()

        bound = wait_until(ready, STARTUP_TIMEOUT)
        assert bound == self.endpoint, f"ferryd did not listen on {self.endpoint} in time:\n{self.log()}"

    def kill(self) -> None:
        """kill -9: no graceful shutdown."""
        self.process.kill()
        self.process.wait(timeout=5)

    def terminate(self, timeout: float = 8.0) -> None:
        """SIGTERM, then wait for the graceful shutdown to end."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        assert self.process.returncode == 0, f"ferryd exited with {self.process.returncode}:\n{self.log()}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


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


def receive_ids(c: FerryClient, ids, timeout: float):
    """Receive until every id of ``ids`` arrived (or ``timeout``); return the deliveries, unsettled."""
    got, missing = [], set(ids)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        delivery = c.receive(timeout=max(0.0, deadline - time.monotonic()))
        if delivery is not None:
            got.append(delivery)
            missing.discard(delivery.event.id)
    assert not missing, f"not received within {timeout} s: {sorted(missing)}; got {[d.event.id for d in got]}"
    return got


def test_consumer_keeps_consuming_after_graceful_restart(ferryd, connect, caplog):
    """Subscribed before a SIGTERM restart, a consumer gets and acks events published after it,
    under the subscription id it knows, without subscribing again."""
    topic, group = f"py.restart.{uid()}", f"g-restart-{uid()}"
    consumer, publisher = connect("consumer"), connect("publisher")
    sub = consumer.subscribe(group, topic, max_in_flight=16, member_name="worker-1")
    publisher.publish([make_event(topic, "before")])
    before = consumer.receive(timeout=3)
    assert before is not None and before.event.id == "before"
    consumer.ack(before)
    wait_group_settled(publisher, group, caught_up=True)
    first_run = consumer.broker_id
    assert first_run

    ferryd.terminate()
    ferryd.start()
    with caplog.at_level(logging.WARNING, logger="ferry_client"):
        publisher.publish([make_event(topic, f"after-{i}") for i in range(3)])
        after = receive_ids(consumer, {f"after-{i}" for i in range(3)}, timeout=5)
    assert [d.event.id for d in after] == ["after-0", "after-1", "after-2"]  # "before" stays acked
    assert all(d.subscription_id == sub.subscription_id and d.attempt == 1 for d in after)
    consumer.ack(*after)
    assert consumer.broker_id not in (None, first_run) and consumer.resumes == 1
    assert any("ferryd restarted; resubscribing 1 subscription" in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]
    stats = wait_group_settled(publisher, group, caught_up=True)
    assert (stats.members, stats.acked, stats.redelivered) == (1, 3, 0), stats  # counters of the new run
    assert consumer.receive(timeout=0.5) is None  # acked to the new run: nothing comes back


def test_unacked_deliveries_redelivered_after_kill_and_stale_acks_ignored(ferryd, connect):
    """Deliveries held unacked across a kill -9 come again; acking the stale copies neither
    fails nor settles the new deliveries (whose broker ids are the same numbers)."""
    topic, group = f"py.redeliver.{uid()}", f"g-redeliver-{uid()}"
    consumer, publisher = connect("consumer"), connect("publisher")
    sub = consumer.subscribe(group, topic)
    ids = [f"e-{i}" for i in range(5)]
    publisher.publish([make_event(topic, i) for i in ids])
    stale = receive_ids(consumer, ids, timeout=3)
    assert all(d.attempt == 1 and d.delivery_id >> EPOCH_SHIFT == 0 for d in stale)

    ferryd.kill()
    ferryd.start()
    consumer.ack(stale[0])  # before the client noticed the restart: reaches the new run, unknown there
    again = receive_ids(consumer, ids, timeout=6)
    assert consumer.resumes == 1
    assert all(d.delivery_id >> EPOCH_SHIFT == 1 and d.subscription_id == sub.subscription_id for d in again)
    assert {d.delivery_id & ((1 << EPOCH_SHIFT) - 1) for d in again} & {d.delivery_id for d in stale}, \
        "expected the new run to reuse delivery ids of the earlier one"
    consumer.ack(*stale[1:])  # stale copies of the earlier run: dropped, never sent
    consumer.flush()
    consumer.poll(0.3)
    stats = group_stats(publisher, group)
    assert (stats.in_flight, stats.acked) == (len(again), 0), stats
    consumer.ack(*again)
    stats = wait_group_settled(publisher, group, caught_up=True)
    assert stats.acked == len(again) and stats.members == 1, stats
    assert consumer.receive(timeout=0.5) is None


class KillingPublisher(FerryClient):
    """Calls ``on_publish_sent`` right after the ``kill_after``-th Publish command is sent."""

    kill_after = 0
    on_publish_sent = None
    publishes = 0

    def _send_command(self, field: str, command) -> int:
        request_id = super()._send_command(field, command)
        if field == "publish":
            self.publishes += 1
            if self.publishes == self.kill_after:
                self.on_publish_sent()
        return request_id


def test_publish_cut_by_kill_completes_after_restart_without_loss_or_duplicates(ferryd, connect, caplog):
    topic = f"py.killpub.{uid()}"
    count = 1000
    events = [make_event(topic, f"k-{i}", f"payload {i}") for i in range(count)]
    publisher = KillingPublisher(ferryd.endpoint, "pytest-killing-publisher")
    restarter = threading.Thread(target=lambda: (time.sleep(0.4), ferryd.start()), daemon=True)

    def kill():  # batches 3..10 are in flight: their confirms are cut
        ferryd.kill()
        restarter.start()

    publisher.kill_after, publisher.on_publish_sent = 10, kill
    try:
        with caplog.at_level(logging.INFO, logger="ferry_client"):
            offsets = publisher.publish(events, batch_size=20, window=8, timeout=8)
        assert publisher.publishes > 10 and publisher.resumes >= 1
        resent = [r.getMessage() for r in caplog.records if "unconfirmed events to" in r.getMessage()]
        assert resent and all(" 0 unconfirmed" not in m for m in resent), resent
    finally:
        if restarter.ident:
            restarter.join(STARTUP_TIMEOUT + 5)
        publisher.close()
    assert len(offsets) == count and all(isinstance(o, int) for o in offsets)
    assert len(set(offsets)) == count

    consumer = connect("consumer")
    consumer.subscribe(f"g-killpub-{uid()}", topic, max_in_flight=1000)
    seen = collections.Counter()
    for delivery in consumer.deliveries(idle_timeout=0.7):
        seen[delivery.event.id] += 1
        consumer.ack(delivery)
        assert delivery.offset == offsets[int(delivery.event.id[2:])]
    assert set(seen) == {e.id for e in events}, f"{count - len(seen)} events lost"
    assert [i for i, n in seen.items() if n > 1] == [], "events stored twice"


def test_broker_that_stays_down_gives_clear_errors_then_client_resumes(ferryd, connect):
    topic, group = f"py.down.{uid()}", f"g-down-{uid()}"
    consumer, publisher = connect("consumer", resume_timeout=1.0), connect("publisher")
    sub = consumer.subscribe(group, topic)
    ferryd.kill()

    started = time.monotonic()
    with pytest.raises(RequestTimeout) as info:
        publisher.publish([make_event(topic, "maybe")], timeout=1.0)
    assert time.monotonic() - started < 3
    assert "1 of 1 events unconfirmed" in str(info.value) and info.value.offsets == [None]

    started = time.monotonic()
    with pytest.raises(BrokerDead):
        consumer.receive(timeout=5)
    assert time.monotonic() - started < 2.5
    with pytest.raises(BrokerDead):  # once per resume_timeout while it stays away; no busy loop
        consumer.receive(timeout=5)

    ferryd.start()
    publisher.publish([make_event(topic, "back")], timeout=5)
    got = receive_ids(consumer, {"back"}, timeout=5)
    # "maybe" sat in the DEALER's queue and may have reached the new run: its outcome was unknown.
    assert {d.event.id for d in got} <= {"maybe", "back"}
    assert all(d.subscription_id == sub.subscription_id for d in got) and consumer.resumes == 1
    consumer.ack(*got)
    stats = wait_group_settled(publisher, group, caught_up=True)
    assert stats.members == 1


def test_without_auto_resume_a_restart_raises_broker_restarted(ferryd, connect):
    topic, group = f"py.noresume.{uid()}", f"g-noresume-{uid()}"
    legacy = connect("legacy", auto_resume=False)
    legacy.subscribe(group, topic)
    ferryd.kill()
    ferryd.start()
    with pytest.raises(BrokerRestarted):
        legacy.receive(timeout=5)
    assert legacy.resumes == 0


def test_publish_answered_shutting_down_is_resent_after_restart(ferryd_factory, caplog):
    """During a graceful shutdown (held open by an unacked delivery) Publish is answered
    SHUTTING_DOWN: with auto_resume the events wait for the restart and are confirmed then."""
    broker = ferryd_factory("--shutdown-grace-ms", "1500")
    topic = f"py.shutdown.{uid()}"
    holder = FerryClient(broker.endpoint, "pytest-holder")
    publisher = FerryClient(broker.endpoint, "pytest-shutdown-publisher")
    restarter = threading.Thread(target=lambda: (broker.process.wait(timeout=10), broker.start()), daemon=True)
    try:
        holder.subscribe(f"g-hold-{uid()}", topic)
        publisher.publish([make_event(topic, "held")])
        assert holder.receive(timeout=3) is not None  # unacked: the shutdown waits for it
        broker.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: "shutting down" in broker.log(), 5), broker.log()
        restarter.start()
        with caplog.at_level(logging.INFO, logger="ferry_client"):
            offsets = publisher.publish([make_event(topic, f"s-{i}") for i in range(10)], timeout=8)
        assert all(isinstance(o, int) for o in offsets) and len(set(offsets)) == 10
        assert publisher.resumes == 1
        assert any("resending 10 unconfirmed events" in r.getMessage() for r in caplog.records), \
            [r.getMessage() for r in caplog.records]
    finally:
        if restarter.ident:
            restarter.join(STARTUP_TIMEOUT + 10)
        holder.close()
        publisher.close()


def test_consumer_mute_longer_than_peer_timeout_resumes_its_expired_session(ferryd_factory):
    """A handler that keeps the client from running for longer than the peer timeout: ferryd
    ends the session; the client notices it was mute and resumes with the same broker."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic, group = f"py.mute.{uid()}", f"g-mute-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-mute-consumer")
    publisher = FerryClient(broker.endpoint, "pytest-mute-publisher")
    try:
        sub = consumer.subscribe(group, topic)
        assert consumer.peer_timeout == 1.0
        time.sleep(1.5)  # the "long handler": no heartbeats, ferryd declares the consumer dead
        assert wait_until(lambda: "peer went silent" in broker.log(), 3), broker.log()
        publisher.publish([make_event(topic, "after-mute")])
        got = receive_ids(consumer, {"after-mute"}, timeout=3)
        assert got[0].subscription_id == sub.subscription_id
        assert consumer.resumes == 1 and consumer.broker_id == publisher.broker_id
        consumer.ack(*got)
        assert wait_group_settled(publisher, group, caught_up=True).members == 1
    finally:
        consumer.close()
        publisher.close()


def test_consumer_resumes_after_the_broker_was_silent_longer_than_peer_timeout(ferryd_factory):
    """ferryd frozen (SIGSTOP) past the peer timeout, then thawed: same broker id, but the
    session may have been ended on its side, so the client resumes it; consuming goes on."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic, group = f"py.frozen.{uid()}", f"g-frozen-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-frozen-consumer")
    try:
        sub = consumer.subscribe(group, topic)
        consumer.publish([make_event(topic, "before")])
        held = receive_ids(consumer, {"before"}, timeout=3)
        broker.process.send_signal(signal.SIGSTOP)
        try:
            consumer.poll(1.5)  # heartbeats go out, nothing comes back
        finally:
            broker.process.send_signal(signal.SIGCONT)
        assert wait_until(lambda: consumer.poll(0.05) or consumer.resumes, 3), "the client did not resume"
        consumer.ack(*held)  # of the session before the resume: dropped; "before" comes again
        again = receive_ids(consumer, {"before"}, timeout=3)
        assert consumer.resumes == 1 and again[0].subscription_id == sub.subscription_id
        assert again[0].attempt == 2 and again[0].delivery_id >> EPOCH_SHIFT == 1
        consumer.ack(*again)
        assert wait_group_settled(consumer, group, caught_up=True).members == 1
    finally:
        consumer.close()
