"""Event traces against a real ``ferryd`` (which records them by default): what the broker did with
an event (deliveries, nacks, retries, dead letters, requeues, acks), the events it caused, paging,
and bad requests. ferryd writes its trace log on a thread of its own, so each test polls the
trace until the step it expects last is there, with a deadline."""
import time

import pytest

from support import uid, wait_group_settled, wait_until  # (also puts the client on sys.path)

from ferry_client import BrokerError, FerryClient, Trace, commands_pb2 as pb, make_event  # noqa: E402
from ferry_client.trace import step_kinds  # noqa: E402

TRACE_DEADLINE = 10.0


@pytest.fixture
def make_client(endpoint):
    """Clients of the session's ferryd with a chosen name (a trace names publishers and
    requeuers by it); all are closed at the end."""
    clients = []

    def make(name: str) -> FerryClient:
        clients.append(FerryClient(endpoint, name))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


def trace_until(c: FerryClient, done, timeout: float = TRACE_DEADLINE, **selector) -> Trace:
    """Read the trace of ``selector`` until ``done(trace)`` holds; fail with the last one after
    ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        trace = c.trace(**selector)
        if done(trace):
            return trace
        if time.monotonic() >= deadline:
            pytest.fail(f"trace of {selector} not complete within {timeout} s: "
                        f"{[(e.id, step_kinds(e)) for e in trace.events]}")
        time.sleep(0.02)


def last_kind_is(kind: str, count: int = 1):
    """``done`` for :func:`trace_until`: ``count`` events, the first ending with step ``kind``."""
    return lambda t: len(t.events) == count and step_kinds(t.events[0])[-1:] == [kind]


def receive_one(c: FerryClient, event_id: str, timeout: float = 5.0) -> pb.Delivery:
    delivery = c.receive(timeout=timeout)
    assert delivery is not None, f"{event_id} not delivered within {timeout} s"
    assert delivery.event.id == event_id
    return delivery


def test_nacked_twice_then_acked(make_client):
    topic, group, event_id = f"py.trace.retry.{uid()}", f"g-trace-retry-{uid()}", f"order-{uid()}"
    publisher, worker = make_client(f"orders-api-{uid()}"), make_client("trace-worker")
    worker.subscribe(group, topic, member_name="inventory-1",
                     retry={"initial_delay_ms": 50, "multiplier_permille": 2000, "jitter_permille": 0})
    publisher.publish([make_event(topic, event_id, b"{}", key="order-42", type="OrderPlaced")])
    for attempt in (1, 2):
        delivery = receive_one(worker, event_id)
        assert delivery.attempt == attempt
        worker.nack(delivery, error=f"out of stock {attempt}")
    last = receive_one(worker, event_id)
    assert last.attempt == 3
    worker.ack(last)

    trace = trace_until(worker, last_kind_is("ACKED"), event_id=event_id)
    assert (trace.sampling, trace.truncated) == ("all", False)
    event = trace.events[0]
    assert (event.id, event.topic, event.key, event.type) == (event_id, topic, "order-42", "OrderPlaced")
    assert event.publisher == publisher.client_name and event.offset == last.offset
    assert event.published_at_us > 0 and not event.steps_truncated
    assert step_kinds(event) == ["DELIVERED", "NACKED", "RETRY_SCHEDULED", "DELIVERED", "NACKED", "RETRY_SCHEDULED",
                                 "DELIVERED", "ACKED"]
    steps = event.steps
    assert all(s.group == group for s in steps)
    assert [s.attempt for s in steps if s.kind == pb.DELIVERED] == [1, 2, 3]
    assert all(s.actor == "inventory-1" for s in steps if s.kind in (pb.DELIVERED, pb.NACKED, pb.ACKED))
    assert [s.detail for s in steps if s.kind == pb.NACKED] == ["out of stock 1", "out of stock 2"]
    retries = [s for s in steps if s.kind == pb.RETRY_SCHEDULED]
    assert [(s.attempt, s.delay_ms) for s in retries] == [(2, 50), (3, 100)]
    assert all(s.due_at_us == s.at_us + 1000 * s.delay_ms for s in retries)
    times = [s.at_us for s in steps]
    assert times == sorted(times) and times[0] >= event.published_at_us
    assert trace.roots() == [event] and trace.children(event) == []
    wait_group_settled(worker, group)


def test_dead_lettered_requeued_then_acked(make_client):
    topic, group, event_id = f"py.trace.dlq.{uid()}", f"g-trace-dlq-{uid()}", f"poison-{uid()}"
    publisher, worker = make_client("trace-publisher"), make_client("trace-worker")
    operator = make_client(f"ops-console-{uid()}")
    worker.subscribe(group, topic, member_name="email-1")
    publisher.publish([make_event(topic, event_id, b"bad")])
    worker.nack(receive_one(worker, event_id), dead_letter=True, error="template missing")
    entries = wait_until(lambda: worker.dlq_list(group).entries, 5, 0.05)
    assert [e.event.id for e in entries] == [event_id]
    assert operator.dlq_requeue(group, ids=[entries[0].id]) == 1
    again = receive_one(worker, event_id)
    assert again.attempt == 1
    worker.ack(again)

    event = trace_until(worker, last_kind_is("ACKED"), event_id=event_id).events[0]
    assert step_kinds(event) == ["DELIVERED", "NACKED", "DEAD_LETTERED", "REQUEUED", "DELIVERED", "ACKED"]
    nacked, dead_lettered, requeued = event.steps[1:4]
    assert nacked.detail == "template missing"
    assert "template missing" in dead_lettered.detail, dead_lettered.detail
    assert requeued.actor == operator.client_name
    assert all(s.group == group for s in event.steps)
    assert [s.attempt for s in event.steps if s.kind == pb.DELIVERED] == [1, 1]


def test_follow_up_event_is_the_causes_child(make_client):
    topic, follow_topic = f"py.trace.orders.{uid()}", f"py.trace.emails.{uid()}"
    group, correlation = f"g-trace-chain-{uid()}", f"saga-{uid()}"
    first_id, follow_id = f"order-{uid()}", f"email-{uid()}"
    publisher, worker = make_client("trace-publisher"), make_client(f"email-service-{uid()}")
    worker.subscribe(group, topic)
    publisher.publish([make_event(topic, first_id, correlation_id=correlation)])
    delivery = receive_one(worker, first_id)
    # The handler publishes what the event caused, then acks it.
    worker.publish([make_event(follow_topic, follow_id, correlation_id=delivery.event.correlation_id,
                               causation_id=delivery.event.id)])
    worker.ack(delivery)

    trace = trace_until(worker, last_kind_is("ACKED", count=2), event_id=first_id)
    first, follow = trace.events
    assert (first.id, follow.id) == (first_id, follow_id)
    assert (follow.causation_id, follow.correlation_id, follow.topic) == (first_id, correlation, follow_topic)
    assert follow.publisher == worker.client_name and follow.steps == []  # no group consumes it
    assert follow.offset >= 0 and follow.published_at_us >= first.published_at_us
    assert trace.roots() == [first] and trace.children(first) == [follow] and trace.children(follow) == []
    assert trace.event(follow_id) == follow

    by_correlation = trace_until(worker, lambda t: len(t.events) == 2, correlation_id=correlation)
    assert [e.id for e in by_correlation.events] == [first_id, follow_id]
    # The follow-up alone: its own trace does not go back to its cause.
    assert [e.id for e in worker.trace(follow_id).events] == [follow_id]


def test_unknown_id_and_bad_selectors(client, raw):
    empty = client.trace(f"never-published-{uid()}")
    assert (empty.events, empty.truncated, empty.sampling) == ([], False, "all")
    page = client.trace_page(key=f"no-such-key-{uid()}")
    assert (list(page.events), page.more, page.next_skip) == ([], False, 0)

    for selector in ({}, {"event_id": "a", "key": "b"}, {"key": "b", "correlation_id": "c"}, {"event_id": ""},
                     {"correlation_id": ""}):
        with pytest.raises(ValueError):
            client.trace(**selector)
        with pytest.raises(ValueError):
            client.trace_page(**selector)
    with pytest.raises(ValueError):
        client.trace("x", max_events=0)

    # What the client refuses, the broker refuses too.
    peer = raw()
    peer.send(71, trace=pb.TraceRequest(event_id=""))  # a oneof member set to "" is sent
    reply = peer.recv(5)
    assert reply is not None and reply.request_id == 71 and reply.WhichOneof("reply") == "error", reply
    assert pb.ErrorCode.Name(reply.error.code) == "MISSING_FIELD"
    peer.send(72, trace=pb.TraceRequest(limit=5))
    reply = peer.recv(5)
    assert reply is not None and reply.request_id == 72 and pb.ErrorCode.Name(reply.error.code) == "MISSING_FIELD"

    with pytest.raises(BrokerError) as info:
        client.trace(key="k" * 1025)
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert client.trace(key="k" * 1024).events == []


def test_paging_by_key(client):
    topic, key, count = f"py.trace.page.{uid()}", f"order-{uid()}", 1200
    ids = [f"p-{i:04d}" + uid() for i in range(count)]
    client.publish([make_event(topic, event_id, key=key) for event_id in ids])
    # Published records are written asynchronously too: wait for the last one.
    wait_until(lambda: client.trace_page(key=key, limit=10, skip=count - 1).events, TRACE_DEADLINE, 0.05)

    requests = []
    original = client._trace_request

    def counting(selector, limit, skip, timeout):
        requests.append((limit, skip))
        return original(selector, limit, skip, timeout)

    client._trace_request = counting
    trace = client.trace(key=key, page_size=500)
    assert [e.id for e in trace.events] == ids and not trace.truncated
    assert requests == [(500, 0), (500, 500), (500, 1000)]
    offsets = [e.offset for e in trace.events]
    assert offsets == sorted(offsets) and all(e.key == key and e.steps == [] for e in trace.events)

    requests.clear()
    capped = client.trace(key=key, page_size=500, max_events=700)
    assert [e.id for e in capped.events] == ids[:700] and capped.truncated
    assert requests == [(500, 0), (200, 500)]

    requests.clear()
    exact = client.trace(key=key, page_size=1000, max_events=count)
    assert len(exact.events) == count and not exact.truncated  # all there: nothing more matched

    page = client.trace_page(key=key, limit=500, skip=1000)
    assert ([e.id for e in page.events], page.more, page.next_skip) == (ids[1000:], False, 0)
    page = client.trace_page(key=key, limit=5000)  # the broker caps a page at 1000
    assert (len(page.events), page.more, page.next_skip) == (1000, True, 1000)
