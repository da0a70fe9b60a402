"""The Python client's sessions across silences: a consumer muted or frozen past the peer
timeout, a broker paused (SIGSTOP), a slow consumer working through a full buffer, idle
publishers, and the timers and send queue behind them."""
import collections
import logging
import signal
import time

import pytest
import zmq

from support import (
    EPOCH_SHIFT, STARTUP_TIMEOUT, Background, CountingClient, group_stats, receive_ids, uid,
    wait_group_settled, wait_until,
)

from ferry_client import BrokerDead, BrokerError, FerryClient, RequestTimeout, make_event  # noqa: E402

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


KILLED_CONSUMER = r"""
import sys
from ferry_client import FerryClient
endpoint, group, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = FerryClient(endpoint, "pytest-doomed-consumer")
client.subscribe(group, topic, max_in_flight=count)
got = 0
while got < count:
    if client.receive(timeout=10) is not None:
        got += 1
print("holding", got, flush=True)
sys.stdin.read()  # holds its deliveries, unacked, until killed
"""


def test_a_killed_consumers_deliveries_go_elsewhere_before_its_peer_timeout(ferryd_factory, tmp_path):
    """kill -9 of a consumer process: its TCP connection closes, so ferryd's next heartbeat to it
    fails (the socket knows no such peer) and its session ends then, not at the peer timeout
    (a minute here): the events it held go to the other member."""
    import os
    import subprocess
    import sys

    broker = ferryd_factory("--peer-timeout-ms", "60000")
    topic, group, count = f"py.killed.{uid()}", f"g-killed-{uid()}", 10
    script = tmp_path / "doomed.py"
    script.write_text(KILLED_CONSUMER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    doomed = subprocess.Popen([sys.executable, str(script), broker.endpoint, group, topic, str(count)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    survivor = FerryClient(broker.endpoint, "pytest-survivor")
    try:
        publisher = survivor
        assert wait_until(lambda: any(g.name == group for g in publisher.stats().groups), STARTUP_TIMEOUT)
        publisher.publish([make_event(topic, f"e{n}") for n in range(count)])
        assert doomed.stdout.readline().split() == ["holding", str(count)]
        survivor.subscribe(group, topic, max_in_flight=count)
        doomed.kill()
        doomed.wait(10)
        got = receive_ids(survivor, {f"e{n}" for n in range(count)}, timeout=20)
        assert all(d.attempt == 2 for d in got), [d.attempt for d in got]
        assert "peer disconnected" in broker.log() and "peer went silent" not in broker.log(), broker.log()
        survivor.ack(*got)
        assert wait_group_settled(survivor, group, caught_up=True).members == 1
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
        survivor.close()
