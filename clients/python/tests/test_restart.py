"""The Python client across real ferryd restarts (SIGTERM and kill -9), outages and pauses
(SIGSTOP) with ``auto_resume``; and the timers of a consumer working through a full buffer.

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
import time

import pytest
import zmq

from support import (
    FERRYD, STARTUP_TIMEOUT, Background, group_stats, require_ferryd, uid, wait_group_settled, wait_until,
)

from ferry_client import (  # noqa: E402
    BrokerDead, BrokerError, BrokerRestarted, FerryClient, RequestTimeout, make_event,
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
    caplog.set_level(logging.WARNING, logger="ferry_client")  # the whole test: however late the resume
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
    publisher.publish([make_event(topic, f"after-{i}") for i in range(3)], timeout=10)
    after = receive_ids(consumer, {f"after-{i}" for i in range(3)}, timeout=10)
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
    fails nor settles the new deliveries. (Each ferryd run numbers its deliveries from a random
    point; the client also drops settlements of an earlier run's deliveries by their epoch tag.)"""
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
    consumer.ack(*stale[1:])  # stale copies of the earlier run: dropped, never sent
    consumer.flush()
    consumer.poll(0.3)
    stats = group_stats(publisher, group)
    assert (stats.in_flight, stats.acked) == (len(again), 0), stats
    consumer.ack(*again)
    stats = wait_group_settled(publisher, group, caught_up=True)
    assert stats.acked == len(again) and stats.members == 1, stats
    assert consumer.receive(timeout=0.5) is None


class CountingClient(FerryClient):
    """Counts the Publish commands it sends; calls ``on_publish_sent`` right after the
    ``trigger_after``-th."""

    trigger_after = 0
    on_publish_sent = None

    def __init__(self, *args, **kwargs):
        self.publishes = 0
        super().__init__(*args, **kwargs)

    def _send_command(self, field: str, command, *args, **kwargs) -> int:
        request_id = super()._send_command(field, command, *args, **kwargs)
        if field == "publish":
            self.publishes += 1
            if self.publishes == self.trigger_after:
                self.on_publish_sent()
        return request_id


def receive_all_once(c: FerryClient, ids, timeout: float):
    """Receive and ack until every id of ``ids`` arrived (or ``timeout``); then make sure no
    further delivery is pending. Return the deliveries' event ids counted."""
    seen, missing = collections.Counter(), set(ids)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        delivery = c.receive(timeout=max(0.0, deadline - time.monotonic()))
        if delivery is not None:
            seen[delivery.event.id] += 1
            missing.discard(delivery.event.id)
            c.ack(delivery)
    assert not missing, f"{len(missing)} events not received within {timeout} s"
    while (delivery := c.receive(timeout=0.3)) is not None:  # duplicates would be waiting by now
        seen[delivery.event.id] += 1
        c.ack(delivery)
    return seen


def test_publish_cut_by_kill_completes_after_restart_without_loss_or_duplicates(ferryd, connect, caplog):
    topic = f"py.killpub.{uid()}"
    count = 1000
    events = [make_event(topic, f"k-{i}", f"payload {i}") for i in range(count)]
    publisher = CountingClient(ferryd.endpoint, "pytest-killing-publisher")

    def kill_and_restart():
        time.sleep(0.3)  # the frozen broker holds batches 3..10 (or their answers), unread
        ferryd.kill()
        ferryd.start()

    restarter = Background(kill_and_restart)

    def freeze():  # from the 10th Publish on, nothing is read: whatever was not answered is lost
        ferryd.process.send_signal(signal.SIGSTOP)
        restarter.start()

    publisher.trigger_after, publisher.on_publish_sent = 10, freeze
    try:
        with caplog.at_level(logging.INFO, logger="ferry_client"):
            offsets = publisher.publish(events, batch_size=20, window=8, timeout=8)
        assert publisher.publishes > 10 and publisher.resumes >= 1
        resent = [r.getMessage() for r in caplog.records if "unconfirmed events to" in r.getMessage()]
        assert any(not m.startswith("ferry: resending 0 ") for m in resent), resent
    finally:
        if restarter.ident:
            restarter.result(STARTUP_TIMEOUT + 10)  # re-raises a failed restart
        publisher.close()
    assert len(offsets) == count and all(isinstance(o, int) for o in offsets)
    assert len(set(offsets)) == count

    consumer = connect("consumer")
    consumer.subscribe(f"g-killpub-{uid()}", topic, max_in_flight=1000)
    seen = receive_all_once(consumer, {e.id for e in events}, timeout=15)
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
    steps, step = [], consumer._step
    consumer._step = lambda deadline: (steps.append(1), step(deadline))
    started = time.monotonic()
    with pytest.raises(BrokerDead):  # once per resume_timeout while it stays away; no busy loop
        consumer.receive(timeout=5)
    elapsed = time.monotonic() - started
    del consumer._step
    assert 0.8 < elapsed < 2.5, elapsed
    assert len(steps) < 40, f"{len(steps)} wake-ups in {elapsed:.2f} s"  # heartbeat timer: ~5

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
    restarter = Background(lambda: (broker.process.wait(timeout=10), broker.start()))
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
            restarter.result(STARTUP_TIMEOUT + 10)
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


def test_consumer_keeps_its_session_when_the_broker_was_silent_with_the_same_id(ferryd_factory):
    """ferryd frozen (SIGSTOP) for longer than the client's peer timeout, then thawed: same broker
    id, and it kept the session (it reads the queued heartbeats before its timers). The consumer
    goes on with no resume: the ack of the delivery it held settles it, nothing is redelivered.

    ferryd's own peer timeout is longer here than the one the client goes by, so that ferryd
    surely keeps the session (with equal timeouts it may expire it first: see the next test)."""
    broker = ferryd_factory("--peer-timeout-ms", "3000")
    topic, group = f"py.frozen.{uid()}", f"g-frozen-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-frozen-consumer")
    try:
        sub = consumer.subscribe(group, topic)
        consumer.welcome.peer_timeout_ms = 1000  # the client's view: ferryd's silence counts after 1 s
        consumer.publish([make_event(topic, "before")])
        held = receive_ids(consumer, {"before"}, timeout=3)
        broker.process.send_signal(signal.SIGSTOP)
        try:
            consumer.poll(1.5)  # heartbeats go out, nothing comes back
            assert consumer._silent_since is not None, "the client did not notice the silence"
        finally:
            broker.process.send_signal(signal.SIGCONT)
        assert wait_until(lambda: consumer.poll(0.05) or consumer._silent_since is None, 3), "no answer after SIGCONT"
        consumer.poll(0.3)  # the client checks whether ferryd kept the session
        consumer.ack(*held)
        stats = wait_group_settled(consumer, group, caught_up=True)
        assert consumer.resumes == 0 and sub.subscription_id in consumer._local_to_server
        assert (stats.members, stats.acked, stats.redelivered) == (1, 1, 0), stats
        assert consumer.receive(timeout=0.5) is None  # nothing redelivered
        consumer.publish([make_event(topic, "after")])
        after = receive_ids(consumer, {"after"}, timeout=3)
        assert after[0].attempt == 1 and after[0].delivery_id >> EPOCH_SHIFT == 0
        consumer.ack(*after)
        assert wait_group_settled(consumer, group, caught_up=True).acked == 2
    finally:
        consumer.close()


def test_consumer_after_the_broker_was_frozen_past_its_peer_timeout(ferryd_factory):
    """The same with ferryd's own peer timeout: after SIGCONT, ferryd either reads the queued
    heartbeats first and keeps the session, or runs its timers first and ends it (both happen).
    Either way the consumer goes on: no resume and its ack settles; or the client notices that
    ferryd tells it it holds no session (a no_session heartbeat), resumes, and the event comes again."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic, group = f"py.frozen2.{uid()}", f"g-frozen2-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-frozen2-consumer")
    try:
        sub = consumer.subscribe(group, topic)
        consumer.publish([make_event(topic, "before")])
        held = receive_ids(consumer, {"before"}, timeout=3)
        broker.process.send_signal(signal.SIGSTOP)
        try:
            consumer.poll(1.5)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        assert wait_until(lambda: consumer.poll(0.05) or consumer._silent_since is None, 3), "no answer after SIGCONT"
        consumer.poll(0.3)
        consumer.ack(*held)
        if "peer went silent" in broker.log():  # ferryd ended the session
            assert consumer.resumes == 1
            again = receive_ids(consumer, {"before"}, timeout=3)
            assert again[0].attempt == 2 and again[0].delivery_id >> EPOCH_SHIFT == 1
            assert again[0].subscription_id == sub.subscription_id
            consumer.ack(*again)
        else:
            assert consumer.resumes == 0
            assert consumer.receive(timeout=0.5) is None
        stats = wait_group_settled(consumer, group, caught_up=True)
        assert (stats.members, stats.acked) == (1, 1), stats
    finally:
        consumer.close()


def test_unsubscribe_after_a_mute_period_removes_that_subscription_only(ferryd_factory):
    """Mute past the peer timeout, then unsubscribe: the client resumes first (renewing both
    subscriptions under new broker ids), so the other subscription is not the one removed."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic_a, topic_b = f"py.unsub-a.{uid()}", f"py.unsub-b.{uid()}"
    group_a, group_b = f"g-unsub-a-{uid()}", f"g-unsub-b-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-unsub-consumer")
    publisher = FerryClient(broker.endpoint, "pytest-unsub-publisher")
    try:
        sub_a = consumer.subscribe(group_a, topic_a)
        sub_b = consumer.subscribe(group_b, topic_b)
        time.sleep(1.5)  # a long handler: ferryd ends the consumer's session
        assert wait_until(lambda: "peer went silent" in broker.log(), 3), broker.log()
        consumer.unsubscribe(sub_a.subscription_id)
        assert consumer.resumes == 1

        def members():
            consumer.poll(0.05)
            return group_stats(publisher, group_a).members, group_stats(publisher, group_b).members

        assert wait_until(lambda: members() == (0, 1), 3), members()
        publisher.publish([make_event(topic_a, "a-after"), make_event(topic_b, "b-after")])
        got = receive_ids(consumer, {"b-after"}, timeout=3)
        assert [(d.event.id, d.subscription_id) for d in got] == [("b-after", sub_b.subscription_id)]
        consumer.ack(*got)
        assert consumer.receive(timeout=0.3) is None  # a-after: not for us any more
        with pytest.raises(BrokerError) as info:
            consumer.unsubscribe(sub_a.subscription_id)  # not ours any more: no broker id is guessed
        assert info.value.code_name == "UNKNOWN_SUBSCRIPTION"
        assert group_stats(publisher, group_b).members == 1
    finally:
        consumer.close()
        publisher.close()


@pytest.mark.parametrize("ack_each", [True, False], ids=["ack-each", "ack-at-end"])
def test_slow_consumer_working_through_a_full_buffer_keeps_its_session(ferryd_factory, ack_each):
    """100 deliveries arrive at once; handling each takes 15 ms, 1.5 s in all, beyond the 1 s peer
    timeout. Meanwhile the client heartbeats and flushes acks every few ms: no resume, every event
    handled once and acked (acked one by one, or all at the end)."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic, group = f"py.slow.{uid()}", f"g-slow-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-slow-consumer")
    try:
        consumer.subscribe(group, topic, max_in_flight=100)
        consumer.publish([make_event(topic, f"s-{i}") for i in range(100)])
        assert wait_until(lambda: consumer.poll(0.02) or len(consumer._buffer) == 100, 3), len(consumer._buffer)
        handled, held = collections.Counter(), []
        deadline = time.monotonic() + 5
        while len(handled) < 100 and time.monotonic() < deadline:
            delivery = consumer.receive(timeout=max(0.0, deadline - time.monotonic()))
            if delivery is None:
                break
            handled[delivery.event.id] += 1
            time.sleep(0.015)  # the handler
            if ack_each:
                consumer.ack(delivery)
            else:
                held.append(delivery)
        consumer.ack(*held)
        assert consumer.resumes == 0
        assert len(handled) == 100 and max(handled.values()) == 1, handled.most_common(3)
        stats = wait_group_settled(consumer, group, caught_up=True)
        assert (stats.acked, stats.redelivered, stats.dead_lettered) == (100, 0, 0), stats
        assert "peer went silent" not in broker.log()
    finally:
        consumer.close()


def test_publish_window_0_counts_as_1(ferryd, connect):
    publisher, topic = connect("publisher"), f"py.window.{uid()}"
    offsets = publisher.publish([make_event(topic, f"w-{i}") for i in range(5)], batch_size=2, window=0)
    assert offsets == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("subscribed", [False, True], ids=["publisher-only", "also-subscribed"])
def test_publish_after_an_idle_period_sends_each_batch_once(ferryd_factory, caplog, subscribed):
    """Idle past the peer timeout, then publish: nothing was in flight, so nothing is resent. A
    client without subscriptions has nothing to resume (no warning); one with a subscription
    resumes once, before its first batch."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic = f"py.idle.{uid()}"
    publisher = CountingClient(broker.endpoint, "pytest-idle-publisher")
    try:
        if subscribed:
            publisher.subscribe(f"g-idle-{uid()}", f"py.other.{uid()}")
        publisher.publish([make_event(topic, "first")])
        time.sleep(1.5)  # idle: ferryd drops the connection's session
        assert wait_until(lambda: "peer went silent" in broker.log(), 3), broker.log()
        before = publisher.publishes
        with caplog.at_level(logging.INFO, logger="ferry_client"):
            offsets = publisher.publish([make_event(topic, f"i-{i}") for i in range(6)], batch_size=2)
        assert len(set(offsets)) == 6 and all(isinstance(o, int) for o in offsets)
        assert publisher.publishes - before == 3, f"{publisher.publishes - before} Publish commands for 3 batches"
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert not any("unconfirmed events to" in r.getMessage() for r in caplog.records), caplog.text
        if subscribed:
            assert publisher.resumes == 1 and any("resubscribing 1 subscription" in w for w in warnings), warnings
        else:
            assert publisher.resumes == 0 and warnings == [], warnings
    finally:
        publisher.close()


def test_resume_timeout_is_at_least_three_heartbeat_intervals(ferryd, connect):
    """resume_timeout=0.1 with 200 ms heartbeats: a healthy, idle broker is silent for up to one
    interval, so BrokerDead must wait 3 intervals (0.6 s), not 0.1 s."""
    consumer = connect("consumer", resume_timeout=0.1)
    consumer.subscribe(f"g-rt-{uid()}", f"py.rt.{uid()}")
    assert consumer.receive(timeout=1.5) is None  # idle and healthy: no BrokerDead
    assert consumer.heartbeat_interval == 0.2 and consumer.effective_resume_timeout == pytest.approx(0.6)
    ferryd.kill()
    started = time.monotonic()
    with pytest.raises(BrokerDead):
        consumer.receive(timeout=5)
    assert 0.3 < time.monotonic() - started < 2.0


def test_close_publish_and_ack_never_block_on_a_full_send_queue(ferryd_factory):
    """After a long outage the send queue to ferryd is full. publish raises RequestTimeout after
    its timeout, ack after peer_timeout (the acks stay queued), close returns at once. A send
    queue of 4 messages stands in for the 1000 that a long outage would fill."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic = f"py.full.{uid()}"
    client = FerryClient(broker.endpoint, "pytest-full-queue", resume_timeout=None)
    client.subscribe(f"g-full-{uid()}", topic)
    client.publish([make_event(topic, "held")])
    held = receive_ids(client, {"held"}, timeout=3)
    client._socket.setsockopt(zmq.SNDHWM, 4)
    broker.kill()

    def work():
        outcome = {}
        for i in range(20):
            try:
                client.publish([make_event(topic, f"x-{i}")], timeout=0.3)
            except RequestTimeout as error:
                if "send queue" in str(error):
                    outcome["publish"] = error
                    break
        started = time.monotonic()
        try:
            client.ack(*held)
        except RequestTimeout as error:
            outcome["ack"] = (error, time.monotonic() - started)
        started = time.monotonic()
        client.close()
        outcome["close"] = time.monotonic() - started
        return outcome

    worker = Background(work)
    worker.start()
    try:
        worker.join(10)
        if worker.is_alive():
            broker.start()  # the queue drains and the blocked send returns
            worker.join(STARTUP_TIMEOUT)
            pytest.fail("a send blocked on the full queue")
        outcome = worker.result(0)
    finally:
        client.close()
    assert "publish" in outcome and outcome["publish"].offsets == [None], outcome
    assert "ack" in outcome and 0.5 < outcome["ack"][1] < 2.5, outcome
    assert outcome["close"] < 0.5, outcome
    assert client.closed


def test_heartbeats_to_a_broker_that_is_down_are_limited_and_still_bring_the_resume(ferryd_factory):
    """While ferryd is down, heartbeats queue at the usual rate only for peer_timeout, then one per
    peer_timeout (a long outage does not fill the send queue); those queued make the restarted
    ferryd answer with its new id at once."""
    broker = ferryd_factory("--peer-timeout-ms", "1000")
    topic, group = f"py.beats.{uid()}", f"g-beats-{uid()}"
    consumer = FerryClient(broker.endpoint, "pytest-beats-consumer")
    try:
        sub = consumer.subscribe(group, topic)
        broker.kill()
        sent, note_sent = [], consumer._note_sent
        consumer._note_sent = lambda: (sent.append(time.monotonic()), note_sent())
        consumer.poll(3.0)  # 15 heartbeat intervals
        del consumer._note_sent
        assert 3 <= len(sent) <= 9, f"{len(sent)} heartbeats queued in 3 s of outage"
        broker.start()
        assert wait_until(lambda: consumer.poll(0.05) or consumer.resumes, 5), "the restart went unnoticed"
        consumer.publish([make_event(topic, "after")])
        got = receive_ids(consumer, {"after"}, timeout=3)
        assert got[0].subscription_id == sub.subscription_id
        consumer.ack(*got)
    finally:
        consumer.close()


def test_invalid_resume_timeout_is_rejected_before_a_socket_exists():
    class Context(zmq.Context):
        made: list = []

        def socket(self, *args, **kwargs):
            self.made.append(args)
            return super().socket(*args, **kwargs)

    context = Context()
    try:
        with pytest.raises(ValueError):
            FerryClient("tcp://127.0.0.1:9", "pytest-bad-timeout", context=context, resume_timeout=0)
        assert Context.made == []
    finally:
        context.destroy(linger=0)
