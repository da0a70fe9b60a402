"""The worker runtime against a real ferryd: retries with backoff, dead letters, RetryLater,
batches, per-key order, follow-up events, events it cannot handle, upcasting, and a broker
restart. (The SIGTERM drain of a worker process is in test_worker_process.py.)"""
import asyncio
import collections
import contextlib
import dataclasses
import threading
from typing import List

import pytest

from support import uid, wait_until  # noqa: F401 - also puts the client on sys.path

from ferry_client import (  # noqa: E402
    Batch, DeadLetter, EventBus, FerryClient, RetryLater, Upcasters, Worker, event, make_event, register_event,
)
from ferry_client.trace import step_kind_name, step_kinds  # noqa: E402

FAST_RETRY = {"max_attempts": 5, "initial_delay_ms": 20, "max_delay_ms": 100}


@event(key="order_id")
@dataclasses.dataclass
class Placed:
    order_id: str
    total_cents: int = 0
    note: str = ""


@contextlib.contextmanager
def running(worker: Worker, timeout: float = 15.0):
    """Runs ``worker`` on a thread of its own until the block ends, then drains it."""
    failure: List[BaseException] = []

    def main():
        try:
            asyncio.run(worker.run(handle_signals=False))
        except BaseException as error:  # noqa: BLE001 - reported below
            failure.append(error)

    thread = threading.Thread(target=main, name="test-worker", daemon=True)
    thread.start()
    assert wait_until(lambda: worker.ready.is_set() or failure, timeout), "the worker did not become ready"
    assert not failure, failure
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout)
        assert not thread.is_alive(), "the worker did not stop"
        assert not failure, failure


def topic_for(cls, name: str) -> None:
    """Registers ``cls`` again with a topic of this test's own (tests share one ferryd)."""
    register_event(cls, cls.__name__, topic=name, key="order_id")


def test_a_handler_that_fails_twice_then_succeeds_is_retried_with_its_attempts_and_errors(endpoint):
    topic = f"py.worker.retry.{uid()}"
    topic_for(Placed, topic)
    seen = []
    group = f"retry-{uid()}"
    worker = Worker("retry-worker", endpoint)
    worker.group(group, retry=FAST_RETRY)

    @worker.on(Placed, group=group)
    async def handle(event: Placed, context):
        seen.append((context.attempt, context.last_error, event.order_id))
        if context.attempt < 3:
            raise RuntimeError(f"payment service down (attempt {context.attempt})")

    with running(worker), FerryClient(endpoint, "retry-publisher") as client:
        receipt = EventBus(client).publish(Placed("o-1", 4200))
        assert wait_until(lambda: len(seen) == 3, 10), seen
        trace = wait_until(lambda: (lambda t: t if t.events and "ACKED" in step_kinds(t.events[0]) else None)(
            client.trace(receipt.event_id)), 5)
    assert [attempt for attempt, _, _ in seen] == [1, 2, 3]
    assert seen[0][1] is None and "attempt 1" in seen[1][1] and "attempt 2" in seen[2][1]
    assert step_kinds(trace.events[0]) == ["DELIVERED", "NACKED", "RETRY_SCHEDULED", "DELIVERED", "NACKED",
                                           "RETRY_SCHEDULED", "DELIVERED", "ACKED"]


def test_dead_letter_goes_to_the_queue_at_once_and_retry_later_overrides_the_backoff(endpoint):
    topic = f"py.worker.dlq.{uid()}"
    topic_for(Placed, topic)
    group = f"dlq-{uid()}"
    attempts = collections.Counter()
    worker = Worker("dlq-worker", endpoint)
    worker.group(group, retry={**FAST_RETRY, "initial_delay_ms": 60_000})  # only RetryLater makes a quick retry

    @worker.on(Placed, group=group)
    async def handle(event: Placed, context):
        attempts[event.order_id] += 1
        if event.order_id == "poison":
            raise DeadLetter("order has no customer")
        if context.attempt == 1:
            raise RetryLater(0.05, "inventory not synced yet")

    with running(worker), FerryClient(endpoint, "dlq-publisher") as client:
        bus = EventBus(client)
        bus.publish(Placed("poison"))
        later = bus.publish(Placed("later"))
        assert wait_until(lambda: attempts["later"] == 2 and client.dlq_list(group).entries, 10), attempts
        entries = client.dlq_list(group).entries
        trace = client.trace(later.event_id)
    assert attempts["poison"] == 1 and len(entries) == 1
    assert entries[0].last_error == "order has no customer" and entries[0].attempts == 1
    scheduled = [step for step in trace.events[0].steps if step_kind_name(step.kind) == "RETRY_SCHEDULED"]
    assert len(scheduled) == 1 and scheduled[0].delay_ms == 50, trace.events[0]


@event("PyUserAction", key="user")
@dataclasses.dataclass
class UserAction:
    user: str
    sequence: int


def test_batches_are_cut_by_size_and_every_event_is_handled_once(endpoint):
    register_event(UserAction, "PyUserAction", topic=f"py.worker.batch.{uid()}", key="user")
    group = f"batch-{uid()}"
    batches: List[List[UserAction]] = []
    worker = Worker("batch-worker", endpoint)

    @worker.on(UserAction, group=group, batch=Batch(max_size=100, max_wait=0.05))
    async def count(events, context):
        assert len(context.envelopes) == len(events)
        batches.append(events)

    with running(worker), FerryClient(endpoint, "batch-publisher") as client:
        EventBus(client).publish_many([UserAction(f"u{i % 7}", i) for i in range(1000)])
        assert wait_until(lambda: sum(len(b) for b in batches) >= 1000, 15), sum(len(b) for b in batches)
    handled = sorted(action.sequence for batch in batches for action in batch)
    assert handled == list(range(1000))
    assert max(len(batch) for batch in batches) <= 100 and len(batches) >= 10


def test_events_of_one_key_are_handled_in_order_while_keys_run_concurrently(endpoint):
    topic_for(Placed, f"py.worker.order.{uid()}")
    group = f"order-{uid()}"
    handled = collections.defaultdict(list)
    running_now, most = [0], [0]
    worker = Worker("order-worker", endpoint)
    worker.group(group, concurrency=4)

    @worker.on(Placed, group=group)
    async def handle(event: Placed, context):
        running_now[0] += 1
        most[0] = max(most[0], running_now[0])
        await asyncio.sleep(0.002)
        handled[event.order_id].append(event.total_cents)
        running_now[0] -= 1

    with running(worker), FerryClient(endpoint, "order-publisher") as client:
        EventBus(client).publish_many([Placed(f"k{i % 5}", i) for i in range(200)])
        assert wait_until(lambda: sum(map(len, handled.values())) == 200, 15)
    for key, totals in handled.items():
        assert totals == sorted(totals), key
    assert most[0] > 1  # keys ran side by side


@event("PyReceiptSent", key="order_id")
@dataclasses.dataclass
class ReceiptSent:
    order_id: str


def test_a_follow_up_inherits_the_correlation_and_names_its_cause(endpoint):
    topic_for(Placed, f"py.worker.chain.{uid()}")
    register_event(ReceiptSent, "PyReceiptSent", topic=f"py.worker.receipts.{uid()}",
                                              key="order_id")
    follow_ups = []
    worker = Worker("chain-worker", endpoint)
    first, second = f"chain-a-{uid()}", f"chain-b-{uid()}"

    @worker.on(Placed, group=first)
    async def place(event: Placed, context):
        await context.publish(ReceiptSent(event.order_id))

    @worker.on(ReceiptSent, group=second)
    async def receipt(event: ReceiptSent, context):
        follow_ups.append(context)

    with running(worker), FerryClient(endpoint, "chain-publisher") as client:
        placed = EventBus(client).publish(Placed("o-9"), correlation_id="saga-9")
        assert wait_until(lambda: follow_ups, 10)
    context = follow_ups[0]
    assert context.correlation_id == "saga-9" and context.causation_id == placed.event_id
    assert context.event_id == f"{placed.event_id}/PyReceiptSent"


@event("PyOrderV2", version=2, key="order_id")
@dataclasses.dataclass
class OrderV2:
    order_id: str
    net_cents: int
    tax_cents: int
    currency: str = "EUR"


def test_old_versions_are_upcast_and_what_cannot_be_handled_is_dead_lettered_with_the_reason(endpoint):
    topic = f"py.worker.versions.{uid()}"
    register_event(OrderV2, "PyOrderV2", version=2, topic=topic, key="order_id")
    upcasters = Upcasters()
    upcasters.register("PyOrderV2", 1, lambda old: {"order_id": old["order_id"], "net_cents": old["total_cents"],
                                                    "tax_cents": 0})
    group = f"versions-{uid()}"
    seen: List[OrderV2] = []
    worker = Worker("versions-worker", endpoint, upcasters=upcasters)
    worker.group(group, retry=FAST_RETRY)

    @worker.on(OrderV2, group=group)
    async def handle(event: OrderV2, context):
        seen.append(event)

    def raw(id: str, payload: str, version: int, type: str = "PyOrderV2"):
        return make_event(topic, id, payload, type=type, schema_version=version, content_type="application/json")

    with running(worker), FerryClient(endpoint, "versions-publisher") as client:
        client.publish([
            raw("v1", '{"order_id": "o-1", "total_cents": 1000}', 1),
            raw("v2", '{"order_id": "o-2", "net_cents": 800, "tax_cents": 200, "currency": "USD", "new": 1}', 2),
            raw("bad-json", "not json", 2),
            raw("missing-field", '{"order_id": "o-3"}', 2),
            raw("unknown-type", "{}", 1, type="SomethingElse"),
        ])
        entries = wait_until(lambda: (lambda e: e if len(e) == 3 else None)(client.dlq_list(group).entries), 10)
    assert seen == [OrderV2("o-1", 1000, 0), OrderV2("o-2", 800, 200, "USD")]
    reasons = {entry.event.id: entry.last_error for entry in entries}
    assert "not JSON" in reasons["bad-json"]
    assert "'tax_cents' is missing" in reasons["missing-field"] or "'net_cents' is missing" in reasons["missing-field"]
    assert "no handler for event type 'SomethingElse'" in reasons["unknown-type"]


def test_an_old_version_without_an_upcaster_path_is_dead_lettered_naming_the_missing_step(endpoint):
    topic = f"py.worker.noupcast.{uid()}"
    register_event(OrderV2, "PyOrderV2", version=2, topic=topic, key="order_id")
    group = f"noupcast-{uid()}"
    worker = Worker("noupcast-worker", endpoint, upcasters=Upcasters())

    @worker.on(OrderV2, group=group)
    async def handle(event, context):
        raise AssertionError("must not be called")

    with running(worker), FerryClient(endpoint, "noupcast-publisher") as client:
        client.publish([make_event(topic, "old", '{"order_id": "o", "total_cents": 1}', type="PyOrderV2",
                                   schema_version=1)])
        entries = wait_until(lambda: client.dlq_list(group).entries, 10)
    assert "no upcaster for PyOrderV2 from schema version 1 to 2" in entries[0].last_error
    assert entries[0].attempts == 1


def test_the_worker_rides_out_a_broker_restart(ferryd):
    topic = f"py.worker.restart.{uid()}"
    topic_for(Placed, topic)
    group = f"restart-{uid()}"
    handled = set()
    worker = Worker("restart-worker", ferryd.endpoint)

    @worker.on(Placed, group=group)
    async def handle(event: Placed, context):
        handled.add(event.order_id)

    with running(worker):
        with FerryClient(ferryd.endpoint, "restart-publisher") as client:
            EventBus(client).publish_many([Placed(f"before-{i}") for i in range(10)])
        assert wait_until(lambda: len(handled) == 10, 10)
        ferryd.kill()
        ferryd.start()
        with FerryClient(ferryd.endpoint, "restart-publisher-2") as client:
            EventBus(client).publish_many([Placed(f"after-{i}") for i in range(10)])
        assert wait_until(lambda: len(handled) == 20, 20), sorted(handled)


def test_the_asyncio_client_publishes_consumes_and_ends_its_deliveries_when_closed(endpoint):
    from ferry_client import AsyncEventBus, AsyncFerryClient

    topic, group = f"py.aio.{uid()}", f"aio-{uid()}"
    register_event(Placed, "Placed", topic=topic, key="order_id")

    async def scenario():
        client = await AsyncFerryClient(endpoint, "aio-test").connect()
        receipts = await AsyncEventBus(client).publish_many([Placed(f"o-{i}") for i in range(5)])
        assert [r.offset for r in receipts] == list(range(5))
        await client.subscribe(group, [topic])
        seen = []

        async def consume():
            async for delivery in client.deliveries():
                seen.append(delivery.event.id)
                client.ack(delivery)
            return "ended"

        consumer = asyncio.ensure_future(consume())
        deadline = asyncio.get_running_loop().time() + 10
        while len(seen) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert seen == [r.event_id for r in receipts]
        stats = await client.stats()
        await client.close()
        assert await asyncio.wait_for(consumer, 5) == "ended"  # deliveries() ends with the client
        return stats

    stats = asyncio.run(scenario())
    assert any(g.name == group for g in stats.groups)
