"""ferryd across a simulated power cut (see README.md): each scenario runs ferryd under the shim,
cuts the power (SIGKILL, then the data directory is rewritten as the worst case a power loss at
that moment leaves), restarts ferryd on it and checks what a confirmed publish, a created group, an
ack and a dead letter promised. Every scenario runs with ``--fsync always`` and ``--fsync batch``."""
import random
import threading
import time

import pytest

from harness import LoopTicker, group_names, receive_until
from support import uid, wait_until

from ferry_client import FerryError, commands_pb2 as pb

FSYNC = ["always", "batch"]


def describe(broker) -> str:
    report = broker.report.summary() if broker.report else "no power cut yet"
    tail = "\n".join(broker.log().splitlines()[-25:])
    return f"\n-- reconstruction: {report}\n-- ferryd log (tail):\n{tail}"


def check(problems, broker):
    """Fails with every problem found (a test goes on after the first, so that one run tells
    all of what the power cut broke)."""
    assert not problems, "after the power cut:\n- " + "\n- ".join(problems) + describe(broker)


def check_group_exists(c, group, problems) -> bool:
    names = group_names(c)
    if group not in names:
        problems.append(f"group {group} is gone (groups: {names})")
        return False
    return True


@pytest.mark.parametrize("fsync", FSYNC)
def test_a_latest_group_keeps_the_events_published_after_it_subscribed(broker_factory, fsync):
    """A START_LATEST group subscribed (reply received), then 100 events were published and
    confirmed: after a power cut the group exists and gets all 100."""
    broker = broker_factory("--fsync", fsync)
    broker.start()
    topic, group = f"pc.a.{uid()}", f"latest-{uid()}"
    ids = [f"a-{i}" for i in range(100)]
    consumer, publisher = broker.client("consumer"), broker.client("publisher")
    try:
        consumer.subscribe(group, topic, start=pb.START_LATEST)
        publisher.publish([{"topic": topic, "id": i, "payload": "x" * 32} for i in ids])
        time.sleep(2)  # as the scenario says: well past the group-state save interval
    finally:
        broker.power_cut()
        consumer.close()
        publisher.close()
    broker.start(shim=False)
    problems = []
    with broker.client("after") as c:
        check_group_exists(c, group, problems)
        c.subscribe(group, topic, start=pb.START_LATEST)
        got = receive_until(c, 10, ids=ids, idle=3.0)
        missing = set(ids) - {d.event.id for d in got}
        if missing:
            problems.append(f"{len(missing)} of the 100 confirmed events were not delivered to {group} "
                            f"(got {len({d.event.id for d in got} & set(ids))})")
    check(problems, broker)


@pytest.mark.parametrize("fsync", FSYNC)
def test_b_acks_older_than_the_sync_interval_survive(broker_factory, fsync):
    """20 000 events acked by a START_EARLIEST group; a few seconds later the power goes: the
    group exists, few events come again, and every confirmed event is still stored."""
    count = 20_000
    broker = broker_factory("--fsync", fsync)
    broker.start()
    topic, group = f"pc.b.{uid()}", f"earliest-{uid()}"
    ids = [f"b-{i}" for i in range(count)]
    c = broker.client("run1")
    try:
        c.subscribe(group, topic, start=pb.START_EARLIEST, max_in_flight=1000)
        c.publish([{"topic": topic, "id": i, "payload": "y" * 16} for i in ids], timeout=30)
        got = receive_until(c, 60, count=count)
        first_run = {d.event.id for d in got}
        assert first_run == set(ids), f"first run delivered {len(first_run)} of {count}"

        def all_acked():
            g = next((g for g in c.stats().groups if g.name == group), None)
            return g is not None and g.in_flight == 0 and g.lag == 0 and g.acked >= count and g

        stats = wait_until(all_acked, 10, 0.05)
        assert stats, f"the broker did not count {count} acks: {[g for g in c.stats().groups if g.name == group]}"
        acked = stats.acked
        time.sleep(3)  # longer than 1 s: these acks are old by the time the power goes
    finally:
        broker.power_cut()
        c.close()
    broker.start(shim=False)
    problems = []
    with broker.client("run2") as c2:
        check_group_exists(c2, group, problems)
        c2.subscribe(group, topic, start=pb.START_EARLIEST, max_in_flight=1000)
        again = receive_until(c2, 30, idle=2.0)
        redelivered = {d.event.id for d in again}
        if len(redelivered) >= count // 10:
            problems.append(f"{len(redelivered)} of the {acked} events acked at least 3 s before were delivered "
                            f"again (allowed: fewer than {count // 10})")
        # Every confirmed event is still in the log: a new group from the beginning reads them all.
        audit = f"audit-{uid()}"
        sub = c2.subscribe(audit, topic, start=pb.START_EARLIEST, max_in_flight=1000).subscription_id
        stored = receive_until(c2, 60, ids=ids, subscription=sub, idle=3.0)
        missing = set(ids) - {d.event.id for d in stored}
        if missing:
            problems.append(f"{len(missing)} confirmed events are gone from the log, e.g. {sorted(missing)[:5]}")
    check(problems, broker)


@pytest.mark.parametrize("attempt", range(5))
@pytest.mark.parametrize("fsync", FSYNC)
def test_c_a_dead_letter_survives_and_is_not_redelivered(broker_factory, fsync, attempt):
    """A new group's consumer dead-letters the first event at once and acks the rest; a second
    later the power goes: the group exists, its dead-letter queue holds the event, and it is not
    delivered again. It is a race: the events were published before the group subscribed, and a
    LoopTicker keeps the broker loop turning, so that group creation, delivery and dead letter
    often fall into one group-state save interval (10 ms), where the dead letters' synced
    transaction and the group's definition are written by two threads."""
    broker = broker_factory("--fsync", fsync)
    broker.start()
    topic, group = f"pc.c.{uid()}", f"dlq-{uid()}"
    ids = [f"c-{i}" for i in range(10)]
    poison = ids[0]
    publisher, c = broker.client("publisher"), broker.client("consumer")
    try:
        publisher.publish([{"topic": topic, "id": i, "payload": "bad" if i == poison else "ok"} for i in ids])
        with LoopTicker(broker.endpoint):
            time.sleep(0.05)
            c.subscribe(group, topic, start=pb.START_EARLIEST)
            first = c.receive(timeout=10)
            assert first is not None and first.event.id == poison, first
            c.nack(first, dead_letter=True, error="poison")
            c.flush()
            time.sleep(0.05)
        rest = receive_until(c, 10, ids=ids[1:])
        assert {d.event.id for d in rest} == set(ids[1:])
        assert wait_until(lambda: c.dlq_list(group).total >= 1, 5, 0.02), "the dead letter never reached the queue"
        time.sleep(1)
    finally:
        broker.power_cut()
        publisher.close()
        c.close()
    broker.start(shim=False)
    problems = []
    with broker.client("after") as c2:
        check_group_exists(c2, group, problems)
        try:
            listed = [e.event.id for e in c2.dlq_list(group).entries]
        except FerryError as error:  # UNKNOWN_GROUP
            listed = [f"({error})"]
        if poison not in listed:
            problems.append(f"the dead letter is not in the group's dead-letter queue (queue: {listed})")
        c2.subscribe(group, topic, start=pb.START_EARLIEST)
        sentinel = f"sentinel-{uid()}"
        c2.publish([{"topic": topic, "id": sentinel, "payload": "ok"}])
        got = receive_until(c2, 10, ids=[sentinel])
        got += receive_until(c2, 1.0, idle=0.5)
        seen = [d.event.id for d in got]
        if sentinel not in seen:
            problems.append(f"the group delivers nothing new ({seen})")
        if poison in seen:
            problems.append(f"the dead-lettered event was delivered again (deliveries: {seen})")
    check(problems, broker)


@pytest.mark.parametrize("fsync", FSYNC)
def test_d_confirmed_events_are_never_lost(broker_factory, fsync):
    """Publish with confirms; the power goes at a random moment: every confirmed event is stored."""
    seed = random.randrange(1 << 30)
    rng, sizes = random.Random(seed), random.Random(seed + 1)  # the cut's moment; payload sizes (publisher thread)
    broker = broker_factory("--fsync", fsync)
    broker.start()
    topic = f"pc.d.{uid()}"
    confirmed: set = set()
    stop = threading.Event()
    c = broker.client("publisher")

    def publish():
        n = 0
        while not stop.is_set():
            batch = [f"d-{n + i}" for i in range(50)]
            n += len(batch)
            try:
                c.publish([{"topic": topic, "id": i, "payload": "z" * sizes.randint(1, 200)} for i in batch], timeout=1.0)
            except FerryError:
                return
            confirmed.update(batch)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        assert wait_until(lambda: len(confirmed) >= 200, 10), "nothing confirmed"
        time.sleep(rng.uniform(0.0, 1.0))
    finally:
        broker.power_cut()
        stop.set()
        publisher.join(timeout=10)
        c.close()
    assert not publisher.is_alive()
    broker.start(shim=False)
    with broker.client("reader") as c2:
        c2.subscribe(f"verify-{uid()}", topic, start=pb.START_EARLIEST, max_in_flight=1000)
        got = receive_until(c2, 30, ids=confirmed, idle=3.0)
        missing = confirmed - {d.event.id for d in got}
        assert not missing, (f"seed {seed}: {len(missing)} of {len(confirmed)} confirmed events lost, e.g. "
                             f"{sorted(missing)[:5]}{describe(broker)}")
