"""The order system's loyalty worker, in Python: points for shipped orders, and how users engage.

Two handler groups on one connection, beside the Swift workers:

- ``loyalty``: remembers each order's user and subtotal (without tax) from ``OrderCreated``
  (the generated protobuf class, version 2; version-1 events are upcast by
  ``orders/upcasters.py``); on ``OrderShipped`` it awards one point per whole currency unit of
  the subtotal and publishes ``LoyaltyPointsAwarded`` (a dataclass, JSON) in the order's
  chain; a cancelled order earns nothing. A shipment seen before its order fails, and ferryd
  retries it.
- ``engagement``: ``UserAction`` events in batches (up to 200, or 0.5 s), counted per action.

State is a SQLite file in ``--data-dir``; each award is recorded under the shipment's event id, so
a redelivered event awards nothing twice. ``summary.json`` there says what it did (the demo's
report reads it). SIGTERM drains.

usage: loyalty_worker.py --broker ENDPOINT --data-dir DIR [--log-level LEVEL] [--exit-with-parent]
With CURVE, the keys come from FERRY_SERVER_KEY and FERRY_CLIENT_KEY_FILE.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import pathlib
import sqlite3
import sys
import threading
import time
from typing import List

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import ferry_client  # noqa: F401 - installed (pip install ./clients/python)
except ImportError:  # run from the repository: the package's source
    sys.path.insert(0, str(HERE.parents[2] / "clients" / "python"))

from ferry_client import Batch, BatchContext, EventContext, Worker, event, register_event  # noqa: E402
from orders import upcasters  # noqa: E402,F401 - registers the order events' upcasters
from orders.v1 import events_pb2  # noqa: E402

# The order events as the Swift side names, versions and keys them (OrderEvents.swift).
register_event(events_pb2.OrderCreated, "OrderCreated", version=2, key="order_id")
for message in (events_pb2.OrderShipped, events_pb2.OrderCancelled):
    register_event(message, message.DESCRIPTOR.name, key="order_id")
register_event(events_pb2.UserAction, "UserAction", key="user_id")


@event(key="order_id")
@dataclasses.dataclass
class LoyaltyPointsAwarded:
    order_id: str
    user_id: str
    points: int
    balance: int


class LoyaltyStore:
    """Orders, awards and engagement counts in SQLite."""

    def __init__(self, directory: pathlib.Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.summary_path = directory / "summary.json"
        self.database = sqlite3.connect(directory / "loyalty.sqlite", isolation_level=None)
        self.database.executescript("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, user_id TEXT, subtotal_cents INTEGER,
                                               cancelled INTEGER DEFAULT 0);
            CREATE TABLE IF NOT EXISTS awards (event_id TEXT PRIMARY KEY, order_id TEXT, user_id TEXT, points INTEGER);
            CREATE TABLE IF NOT EXISTS engagement (action TEXT PRIMARY KEY, count INTEGER);
        """)

    def record_order(self, order_id: str, user_id: str, subtotal_cents: int) -> None:
        self.database.execute("INSERT INTO orders (order_id, user_id, subtotal_cents) VALUES (?, ?, ?) "
                              "ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id, "
                              "subtotal_cents = excluded.subtotal_cents", (order_id, user_id, subtotal_cents))

    def cancel(self, order_id: str) -> None:
        self.database.execute("INSERT INTO orders (order_id, cancelled) VALUES (?, 1) "
                              "ON CONFLICT (order_id) DO UPDATE SET cancelled = 1", (order_id,))

    def order(self, order_id: str):
        return self.database.execute("SELECT user_id, subtotal_cents, cancelled FROM orders WHERE order_id = ?",
                                     (order_id,)).fetchone()

    def award(self, event_id: str, order_id: str, user_id: str, points: int) -> int:
        """Records the award of ``event_id`` once; returns the user's balance."""
        self.database.execute("INSERT OR IGNORE INTO awards VALUES (?, ?, ?, ?)", (event_id, order_id, user_id, points))
        return self.database.execute("SELECT COALESCE(SUM(points), 0) FROM awards WHERE user_id = ?",
                                     (user_id,)).fetchone()[0]

    def count_actions(self, actions: List[str]) -> None:
        with self.database:
            for action in actions:
                self.database.execute("INSERT INTO engagement VALUES (?, 1) "
                                      "ON CONFLICT (action) DO UPDATE SET count = count + 1", (action,))

    def write_summary(self) -> None:
        awards, points, users = self.database.execute(
            "SELECT COUNT(*), COALESCE(SUM(points), 0), COUNT(DISTINCT user_id) FROM awards").fetchone()
        engagement = dict(self.database.execute("SELECT action, count FROM engagement ORDER BY action").fetchall())
        summary = {"awards": awards, "points": points, "users": users, "actions": engagement}
        temporary = self.summary_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(summary, sort_keys=True))
        os.replace(temporary, self.summary_path)


class TransientFailure(Exception):
    """Retried by ferryd with the group's backoff."""


def build_worker(endpoint: str, store: LoyaltyStore) -> Worker:
    worker = Worker("loyalty-worker", endpoint)
    quick_retries = {"max_attempts": 6, "initial_delay_ms": 200, "max_delay_ms": 2000}
    worker.group("loyalty", concurrency=4, retry=quick_retries)
    worker.group("engagement", retry=quick_retries)

    @worker.on(events_pb2.OrderCreated, group="loyalty")
    async def order_created(order: events_pb2.OrderCreated, context: EventContext) -> None:
        store.record_order(order.order_id, order.user_id, order.subtotal_cents)

    @worker.on(events_pb2.OrderCancelled, group="loyalty")
    async def order_cancelled(cancelled: events_pb2.OrderCancelled, context: EventContext) -> None:
        store.cancel(cancelled.order_id)

    @worker.on(events_pb2.OrderShipped, group="loyalty")
    async def order_shipped(shipped: events_pb2.OrderShipped, context: EventContext) -> None:
        known = store.order(shipped.order_id)
        if known is None or known[1] is None:
            raise TransientFailure(f"OrderShipped for order {shipped.order_id} before its OrderCreated")
        user_id, subtotal_cents, cancelled = known
        if cancelled:
            return
        points = subtotal_cents // 100
        balance = store.award(context.event_id, shipped.order_id, user_id, points)
        await context.publish(LoyaltyPointsAwarded(shipped.order_id, user_id, points, balance))
        store.write_summary()

    @worker.on(events_pb2.UserAction, group="engagement", batch=Batch(max_size=200, max_wait=0.5))
    async def user_actions(actions: List[events_pb2.UserAction], context: BatchContext) -> None:
        store.count_actions([action.action for action in actions])
        store.write_summary()

    return worker


def watch_parent(worker: Worker) -> None:
    """--exit-with-parent: drain when the process that started this one is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        worker.stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description="The order system's loyalty worker (Python).")
    parser.add_argument("--broker", default=os.environ.get("FERRY_BROKER", "tcp://127.0.0.1:7400"))
    parser.add_argument("--data-dir", default="loyalty-data")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--exit-with-parent", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=arguments.log_level.upper(), format="%(asctime)s %(levelname)s loyalty-worker: %(message)s")
    store = LoyaltyStore(pathlib.Path(arguments.data_dir))
    store.write_summary()
    worker = build_worker(arguments.broker, store)
    if arguments.exit_with_parent:
        watch_parent(worker)
    asyncio.run(worker.run())


if __name__ == "__main__":
    main()
