"""The Python client across real ferryd restarts (SIGTERM and kill -9) and outages with
``auto_resume``: nothing confirmed is lost, unacked deliveries come again, stale acks are ignored.

Each test runs its own ferryd on a fixed free loopback port with its own data directory, so that
the broker can be stopped and started again where the client expects it (``ferryd_factory``).
"""
import logging
import signal
import time

import pytest

from support import (
    EPOCH_SHIFT, STARTUP_TIMEOUT, Background, CountingClient, group_stats, receive_all_once,
    receive_ids, uid, wait_group_settled, wait_until,
)

from ferry_client import BrokerDead, BrokerRestarted, FerryClient, RequestTimeout, make_event  # noqa: E402

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
