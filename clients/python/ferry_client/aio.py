"""asyncio for Ferry: :class:`AsyncFerryClient`, the synchronous client driven from a thread.

A ZeroMQ socket belongs to one thread. The :class:`FerryClient` of an ``AsyncFerryClient`` lives
on a thread of its own (its *pump*), which runs the calls the event loop hands it, keeps the
session alive (heartbeats, resume after a broker restart) and passes deliveries to the loop.
The loop gets the pump's attention over an ``inproc://`` socket, so a call never waits for a
poll timeout; what the pump does blocks the pump, never the event loop.

>>> async with AsyncFerryClient("tcp://127.0.0.1:7400", "my-service") as ferry:
...     offsets = await ferry.publish([{"topic": "orders", "id": "o-1", "payload": "{}"}])
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import threading
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

import zmq

from .client import FerryClient
from .errors import FerryError
from .protocol import commands_pb2 as pb

log = logging.getLogger("ferry_client")

Call = Callable[[FerryClient], Any]


class ClientThread:
    """A :class:`FerryClient` owned by a thread of its own, which runs calls for other threads.

    ``on_deliveries`` (called on that thread with each list of deliveries received) is set
    before :meth:`start`; while it is set and the client has subscriptions, the thread receives.
    """

    #: The most deliveries handed over at once.
    MAX_HANDOFF = 512

    def __init__(self, factory: Callable[[], FerryClient], name: str = "ferry-client",
                 on_deliveries: Optional[Callable[[List[pb.Delivery]], None]] = None,
                 on_closed: Optional[Callable[[], None]] = None):
        self._factory = factory
        self._on_deliveries = on_deliveries
        self._on_closed = on_closed
        self._calls: Deque[Tuple[Call, concurrent.futures.Future]] = collections.deque()
        self._lock = threading.Lock()
        self._context = zmq.Context.instance()
        address = f"inproc://ferry-client-thread-{os.getpid()}-{id(self)}-{os.urandom(4).hex()}"
        self._wake_in = self._context.socket(zmq.PULL)   # the pump's, from start on
        self._wake_in.bind(address)
        self._wake_out = self._context.socket(zmq.PUSH)  # any thread's, under _lock
        self._wake_out.setsockopt(zmq.LINGER, 0)
        self._wake_out.connect(address)
        self._stopping = False
        self._closed = False
        self._started: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> pb.Welcome:
        """Starts the thread, which creates the client (its ``Hello``); returns the ``Welcome``
        or raises what creating the client raised."""
        self._thread.start()
        return self._started.result()

    @property
    def started(self) -> concurrent.futures.Future:
        """Resolved with the ``Welcome`` once the client is connected (for :meth:`start_async`)."""
        return self._started

    def start_async(self) -> None:
        self._thread.start()

    def call(self, function: Call) -> concurrent.futures.Future:
        """Runs ``function(client)`` on the client's thread; its result or exception in the future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                future.set_exception(FerryError("the client is closed"))
                return future
            self._calls.append((function, future))
            try:
                self._wake_out.send(b"", zmq.NOBLOCK)
            except zmq.Again:
                pass  # wakes are queued up to the high-water mark already: the thread will look
        return future

    def close(self, timeout: Optional[float] = 10.0) -> None:
        """Closes the client (settlements flushed, ``Goodbye``) and ends the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._stopping = True
            try:
                self._wake_out.send(b"", zmq.NOBLOCK)
            except zmq.Again:
                pass
        if not self._thread.is_alive() and self._thread.ident is None:
            self._shut(None)  # never started: nothing but the wake sockets to close
            return
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            client = self._factory()
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the start
            self._started.set_exception(error)
            self._shut(None)
            return
        client.set_wake_socket(self._wake_in)
        self._started.set_result(client.welcome)
        try:
            while not self._stopping:
                self._run_calls(client)
                if self._stopping:
                    break
                if self._on_deliveries is not None and client._subscriptions:
                    try:
                        deliveries = client.receive_batch(self.MAX_HANDOFF, timeout=client.heartbeat_interval)
                    except FerryError as error:  # e.g. SubscriptionEnded: logged; the rest goes on
                        log.warning("ferry: %s", error)
                        continue
                    if deliveries:
                        self._on_deliveries(deliveries)
                else:
                    try:
                        client.poll(client.heartbeat_interval)
                    except FerryError as error:  # e.g. BrokerDead after resume_timeout: the client stays usable
                        log.warning("ferry: %s", error)
            self._run_calls(client)
        except BaseException as error:  # noqa: BLE001 - the session is over; callers learn it
            log.error("ferry: the client thread stopped: %s", error)
            self._shut(client, error)
            return
        self._shut(client)

    def _run_calls(self, client: FerryClient) -> None:
        while True:
            with self._lock:
                if not self._calls:
                    return
                function, future = self._calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(client))
            except BaseException as error:  # noqa: BLE001 - the caller's to handle
                future.set_exception(error)

    def _shut(self, client: Optional[FerryClient], error: Optional[BaseException] = None) -> None:
        with self._lock:
            self._closed = True
            pending = list(self._calls)
            self._calls.clear()
        for _, future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(FerryError(f"the client closed before running this call: {error or 'closed'}"))
        if client is not None:
            try:
                client.close()
            except Exception as failure:  # noqa: BLE001 - closing anyway
                log.warning("ferry: closing the client: %s", failure)
        self._wake_in.close(linger=0)
        with self._lock:
            self._wake_out.close(linger=0)
        if self._on_closed is not None:
            self._on_closed()


class AsyncFerryClient:
    """The :class:`FerryClient` API for asyncio: every method is a coroutine run by the client's
    own thread (see the module). Deliveries come through :meth:`deliveries`.

    The constructor takes :class:`FerryClient`'s arguments; ``connect()`` (or ``async with``)
    connects. ``auto_resume`` is on: a broker restart is ridden out as the synchronous client
    does (subscriptions renewed, unconfirmed publishes resent).
    """

    def __init__(self, endpoint: str = "tcp://127.0.0.1:7400", client_name: str = "ferry-python-async",
                 **options: Any):
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._queue: Optional[asyncio.Queue] = None
        self._thread = ClientThread(lambda: FerryClient(endpoint, client_name, **options),
                                    name=f"ferry-{client_name}"[:15], on_deliveries=self._hand_over,
                                    on_closed=self._closed)
        self.welcome: Optional[pb.Welcome] = None

    async def connect(self) -> "AsyncFerryClient":
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._thread.start_async()
        self.welcome = await asyncio.wrap_future(self._thread.started)
        return self

    async def __aenter__(self) -> "AsyncFerryClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Flushes settlements, says ``Goodbye`` and ends the client's thread."""
        await asyncio.get_running_loop().run_in_executor(None, self._thread.close)

    async def run(self, function: Call) -> Any:
        """Runs ``function(client)`` on the client's thread and returns its result: any
        :class:`FerryClient` method, e.g. ``await ferry.run(lambda c: c.dlq_list("email"))``."""
        return await asyncio.wrap_future(self._thread.call(function))

    def submit(self, function: Call) -> concurrent.futures.Future:
        """Like :meth:`run`, without waiting (for acks and nacks)."""
        return self._thread.call(function)

    async def publish(self, events: Sequence[Any], **options: Any) -> List[int]:
        """:meth:`FerryClient.publish`: the offsets, once every event is confirmed."""
        events = list(events)
        return await self.run(lambda client: client.publish(events, **options))

    async def schedule(self, events: Sequence[Any], **options: Any) -> List[Any]:
        """:meth:`FerryClient.schedule`: a ``Scheduled`` per event, once every one is stored for later."""
        events = list(events)
        return await self.run(lambda client: client.schedule(events, **options))

    async def cancel_scheduled(self, topic: str, event_id: str) -> pb.ScheduledCancelled:
        return await self.run(lambda client: client.cancel_scheduled(topic, event_id))

    async def subscribe(self, group: str, patterns: Any, **options: Any) -> pb.Subscribed:
        return await self.run(lambda client: client.subscribe(group, patterns, **options))

    async def unsubscribe(self, subscription_id: int, *, drain: bool = False) -> None:
        await self.run(lambda client: client.unsubscribe(subscription_id, drain=drain))

    def ack(self, *deliveries: Any) -> None:
        """Queues acks; the client's thread sends them within a few milliseconds, never waiting
        for a full send queue."""
        self.submit(lambda client: client.settle_later(acks=deliveries))

    def nack(self, delivery: Any, **options: Any) -> None:
        self.submit(lambda client: client.settle_later(nacks=[(delivery, options)]))

    async def stats(self) -> pb.Stats:
        return await self.run(lambda client: client.stats())

    async def trace(self, event_id: Optional[str] = None, **options: Any) -> Any:
        return await self.run(lambda client: client.trace(event_id, **options))

    async def deliveries(self) -> Any:
        """Yields deliveries as they arrive, until the client closes."""
        assert self._queue is not None, "connect() first"
        while True:
            batch = await self._queue.get()
            if batch is None:
                return
            for delivery in batch:
                yield delivery

    def _hand_over(self, deliveries: List[pb.Delivery]) -> None:
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, deliveries)

    def _closed(self) -> None:
        """The client's thread ended: :meth:`deliveries` ends too."""
        if self._loop is None or self._queue is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        except RuntimeError:
            pass  # the event loop is closed already
