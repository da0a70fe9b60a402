"""Scheduled events from Python against a real ferryd: schedule at a time or after a delay,
nothing delivered before it is due, duplicates, cancellation, a handler scheduling a follow-up,
refusals (both fields, too far ahead), and a restart (kill -9) with events still waiting."""
import dataclasses
import sqlite3
import time

import pytest

from support import uid, wait_until  # noqa: F401 - also puts the client on sys.path

from ferry_client import EventBus, FerryClient, Worker, event, make_event, register_event  # noqa: E402
from ferry_client import commands_pb2 as pb  # noqa: E402
from ferry_client.errors import PublishRejected  # noqa: E402

from test_worker import running  # noqa: E402


@event(key="order_id")
@dataclasses.dataclass
class Reminder:
    order_id: str


def test_an_event_scheduled_after_a_delay_arrives_when_due_and_not_before(endpoint):
    topic = f"py.scheduled.{uid()}"
    register_event(Reminder, "Reminder", topic=topic, key="order_id")
    group = f"reminders-{uid()}"
    arrivals = []
    worker = Worker("reminder-worker", endpoint)

    @worker.on(Reminder, group=group)
    async def handle(reminder: Reminder, context):
        arrivals.append((reminder.order_id, time.time()))

    with running(worker), FerryClient(endpoint, "scheduler") as client:
        bus = EventBus(client)
        before = time.time()
        receipt = bus.schedule(Reminder("o-1"), after=1.0, id=f"reminder-{topic}")
        assert before * 1e6 + 1e6 - 50_000 <= receipt.due_us <= time.time() * 1e6 + 1e6 + 50_000
        # The same id again: the same event, due when the first is.
        assert receipt.duplicate is False and receipt.offset is None
        again = client.schedule([make_event(topic, f"reminder-{topic}", "{}")], after=30)[0]
        assert again.due_us == receipt.due_us and again.duplicate
        stats = client.stats()
        assert stats.scheduled_events >= 1
        assert [t.scheduled for t in stats.topics if t.name == topic] == [1]
        assert [g.scheduled for g in stats.groups if g.name == group] == [1]
        assert arrivals == []
        assert wait_until(lambda: arrivals, 10)
    order_id, at = arrivals[0]
    assert order_id == "o-1"
    assert at * 1e6 >= receipt.due_us - 10_000, "delivered before it was due"


def test_a_cancelled_event_never_arrives_and_the_outcomes_say_what_happened(endpoint, client):
    topic = f"py.scheduled.cancel.{uid()}"
    due = client.schedule([make_event(topic, "a", "1"), make_event(topic, "b", "2")], at=time.time() + 0.5)
    assert len(due) == 2
    assert client.cancel_scheduled(topic, "a").outcome == pb.CANCEL_OUTCOME_CANCELLED
    assert client.cancel_scheduled(topic, "a").outcome == pb.CANCEL_OUTCOME_NOT_SCHEDULED
    client.subscribe(f"cancel-{uid()}", topic)
    delivery = client.receive(10)
    assert delivery is not None and delivery.event.id == "b"
    client.ack(delivery)
    assert client.receive(0.5) is None, "the cancelled event was delivered"
    assert client.cancel_scheduled(topic, "b").outcome == pb.CANCEL_OUTCOME_NOT_SCHEDULED


def test_a_handler_schedules_a_follow_up_with_its_chain(endpoint):
    topic = f"py.scheduled.chain.{uid()}"
    follow_topic = f"{topic}.reminder"
    register_event(Reminder, "Reminder", topic=follow_topic, key="order_id")
    group, follow_group = f"orders-{uid()}", f"follow-{uid()}"
    follow_ups = []
    worker = Worker("chain-worker", endpoint)

    @worker.on_raw(topic, group=group)
    async def order(envelope, context):
        await context.schedule(Reminder(envelope.key), after=0.2)

    @worker.on(Reminder, group=follow_group)
    async def remind(reminder: Reminder, context):
        follow_ups.append((reminder.order_id, context.correlation_id, context.causation_id))

    with running(worker), FerryClient(endpoint, "chain-publisher") as client:
        client.publish([make_event(topic, "order-1", "{}", key="o-9")])
        assert wait_until(lambda: follow_ups, 10)
    assert follow_ups == [("o-9", "order-1", "order-1")]


def test_bad_schedules_are_refused_with_a_clear_error(client):
    topic = f"py.scheduled.bad.{uid()}"
    with pytest.raises(PublishRejected) as rejected:
        client.schedule([make_event(topic, uid(), "{}")], after=367 * 24 * 3600)
    assert rejected.value.rejections[0].code_name == "INVALID_ARGUMENT"
    assert "366 days" in rejected.value.rejections[0].message
    # Both fields at once, sent by hand.
    publish = pb.Publish()
    item = publish.items.add(sequence=1, deliver_at_us=int(time.time() * 1e6) + 10_000_000, deliver_after_ms=1000)
    item.event.CopyFrom(make_event(topic, uid(), "{}"))
    request_id = client._send_command("publish", publish, 5)
    result = client._wait_reply(request_id, "publish_result", 5)
    assert [r.code for r in result.rejected] == [pb.INVALID_ARGUMENT]
    assert "not both" in result.rejected[0].message
    with pytest.raises(ValueError):
        client.schedule([make_event(topic, uid(), "{}")])
    # A time already past publishes at once: an offset, no due time.
    past = client.schedule([make_event(topic, uid(), "{}")], at=time.time() - 60)[0]
    assert past.due_us == 0 and past.offset is not None


def test_one_publish_with_the_same_id_at_once_and_for_later_stores_it_once(client):
    topic = f"py.scheduled.same.{uid()}"
    now_item = make_event(topic, "same", "{}")
    publish = pb.Publish()
    first = publish.items.add(sequence=1)
    first.event.CopyFrom(now_item)
    later = publish.items.add(sequence=2, deliver_after_ms=60_000)
    later.event.CopyFrom(now_item)
    result = client._wait_reply(client._send_command("publish", publish, 5), "publish_result", 5)
    assert sorted(result.confirmed) == [1, 2] and not result.scheduled, "the later one is the same event, confirmed"
    # The other way round: the item published at once after one scheduled with its id is refused.
    publish = pb.Publish()
    later = publish.items.add(sequence=3, deliver_after_ms=60_000)
    later.event.CopyFrom(make_event(topic, "other", "{}"))
    now = publish.items.add(sequence=4)
    now.event.CopyFrom(make_event(topic, "other", "{}"))
    result = client._wait_reply(client._send_command("publish", publish, 5), "publish_result", 5)
    assert [s.sequence for s in result.scheduled] == [3]
    assert [(r.sequence, r.code) for r in result.rejected] == [(4, pb.INVALID_ARGUMENT)]
    assert client.cancel_scheduled(topic, "other").outcome == pb.CANCEL_OUTCOME_CANCELLED


def test_scheduled_events_survive_kill_9_and_come_in_order(ferryd):
    topic = f"py.scheduled.kill.{uid()}"
    with FerryClient(ferryd.endpoint, "before-kill") as client:
        client.schedule([make_event(topic, f"k{n}", str(n), key="k") for n in range(5)], after=1.5)
    ferryd.kill()
    ferryd.start()
    with FerryClient(ferryd.endpoint, "after-kill") as client:
        client.subscribe(f"kill-{uid()}", topic)
        seen = []
        deadline = time.monotonic() + 15
        while len(seen) < 5 and time.monotonic() < deadline:
            delivery = client.receive(1)
            if delivery is not None:
                seen.append(delivery.event.id)
                client.ack(delivery)
        assert seen == [f"k{n}" for n in range(5)]
        assert client.receive(0.3) is None, "an event was delivered twice"


def test_an_event_appended_just_before_a_crash_is_not_appended_again_after_a_long_downtime(ferryd_factory, tmp_path):
    """A crash between an event's append and its removal from the schedule leaves its row there:
    after a restart it is handed over again, and the dedup window, rebuilt back to the earliest
    overdue scheduled event, knows it was appended, even when ferryd was down longer than the
    window (here 300 ms). The crash is made by hand: the row is put back after a clean stop."""
    config = tmp_path / "ferryd.yaml"
    config.write_text("dedup_window_ms: 300\n")
    broker = ferryd_factory("--config", str(config))
    topic = f"py.scheduled.crash.{uid()}"
    event = make_event(topic, "once", "1", key="k")
    with FerryClient(broker.endpoint, "before-crash") as client:
        due_us = client.schedule([event], after=0.1)[0].due_us

        def appended_and_removed():
            stats = client.stats()
            return stats.scheduled_events == 0 and [t.next_offset for t in stats.topics if t.name == topic] == [1]

        assert wait_until(appended_and_removed, 10)
    broker.terminate()
    database = sqlite3.connect(str(broker.workdir / "data" / "schedule.sqlite"))
    with database:
        database.execute("INSERT INTO scheduled(topic, event_id, key, due_us, body) VALUES (?, ?, ?, ?, ?)",
                         (topic, "once", "k", due_us, event.SerializeToString()))
    database.close()
    time.sleep(0.5)  # longer than the dedup window: only the rebuild back to the due time finds the id
    broker.start()
    with FerryClient(broker.endpoint, "after-crash") as client:
        assert wait_until(lambda: client.stats().scheduled_events == 0, 10), "the row was not handed over again"
        assert [t.next_offset for t in client.stats().topics if t.name == topic] == [1], "appended twice"
