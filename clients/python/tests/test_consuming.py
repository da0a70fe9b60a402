"""Consuming with the Python client against a real ``ferryd``: credit, acks and nacks, retries
and dead letters, sessions and members, patterns and keys, and the broker's stats."""
import json
import time

import pytest

from support import group_stats, uid, wait_group_settled, wait_until  # (also puts the client on sys.path)

from ferry_client import BrokerError, FerryClient, RequestTimeout, commands_pb2 as pb, make_event  # noqa: E402

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


def raw_member_holding(raw, client, topic: str, group: str, event_id: str):
    """A bare DEALER, subscribed to ``group``, that has been delivered ``event_id`` and holds it."""
    peer = raw()
    peer.send(1, subscribe=pb.Subscribe(group=group, patterns=[topic]))
    assert peer.recv(3).WhichOneof("reply") == "subscribed"
    client.publish([make_event(topic, event_id)])
    delivery = peer.recv(3)
    assert delivery is not None and delivery.deliver.deliveries[0].event.id == event_id
    return peer


def test_goodbye_hands_unsettled_deliveries_to_other_member(raw, client):
    topic, group = f"py.bye.{uid()}", f"g-bye-{uid()}"
    peer = raw_member_holding(raw, client, topic, group, "handover")
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
    raw_member_holding(raw, client, topic, group, "orphan")
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


def test_a_subscribed_that_comes_after_the_subscribe_timed_out_is_undone(connect):
    """The caller gave up on its Subscribe (a timeout shorter than the durable save): the late
    Subscribed that still comes is answered with an Unsubscribe, so no member is left holding
    deliveries that nobody takes."""
    client = connect("late-subscribed")
    group = f"g-late-{uid()}"
    with pytest.raises(RequestTimeout):
        client.subscribe(group, f"py.late.{uid()}", timeout=0)  # gives up at once: the reply needs an fsync

    def members():
        client.poll(0.05)  # lets the late reply in, and the Unsubscribe out
        return [g.members for g in client.stats().groups if g.name == group]

    assert wait_until(lambda: members() == [0], 5), members()
