"""The worker runtime: handler groups in Python, as the Swift SDK's ``Worker`` runs them.

>>> worker = Worker("email-worker", endpoint="tcp://127.0.0.1:7400")
>>> @worker.on(OrderCreated, group="email")
... async def confirm(event: OrderCreated, context: EventContext) -> None:
...     await mailer.send(event.order_id)
>>> @worker.on(UserAction, group="analytics", batch=Batch(max_size=500, max_wait=0.2))
... async def count(events: list, context: BatchContext) -> None: ...
>>> worker.run_forever()          # until SIGTERM or SIGINT, then drains

Every group receives every event of the types it handles; the members of one group (the same
group name in several worker processes, of any language) share them. A handler that returns
acks its event; one that raises nacks it for a retry with the group's backoff;
:class:`DeadLetter` sends it to the dead-letter queue at once; :class:`RetryLater` retries it
after the delay it names. Events with the same key are handled one after another, in order;
others run concurrently (``concurrency`` per group). An event of a type the group has no
handler for, or whose payload cannot be decoded (see :mod:`ferry_client.upcasting`), is
dead-lettered with the reason: it can never succeed, and must not block the queue.

Shutdown (:meth:`Worker.stop`, SIGTERM, SIGINT) drains: the groups stop taking deliveries,
running handlers may finish until the group's ``shutdown_deadline``, and everything not handled
goes back to the broker without counting an attempt. A broker restart is ridden out: the
client resumes its session and subscriptions, and handlers carry on.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
import zlib
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

from .aio import AsyncFerryClient
from .bus import AsyncEventBus, PublishReceipt, ScheduledReceipt
from .events import EventDecodingError, EventType, event_type
from .protocol import commands_pb2 as pb, event_pb2
from .upcasting import Upcasters
from . import tracing as _tracing

log = logging.getLogger("ferry_client.worker")


class DeadLetter(Exception):
    """Raised by a handler: the event can never succeed; send it to the dead-letter queue now."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """Raised by a handler: retry after ``seconds`` instead of the group's backoff."""

    def __init__(self, seconds: float, reason: str = ""):
        super().__init__(reason or f"retry in {seconds:g} s")
        self.seconds = seconds
        self.reason = reason or f"retry in {seconds:g} s"


@dataclasses.dataclass(frozen=True)
class Batch:
    """How a batched handler's batches are cut: at ``max_size`` events, or ``max_wait`` seconds
    after the first event of the batch arrived, whichever comes first."""

    max_size: int = 100
    max_wait: float = 0.2

    def __post_init__(self) -> None:
        if self.max_size < 1 or self.max_wait < 0:
            raise ValueError(f"a batch holds at least one event and waits at least 0 s; got {self}")


@dataclasses.dataclass
class GroupOptions:
    """How a handler group consumes."""

    #: Credit: the most deliveries the broker hands this member before it settles some.
    max_in_flight: int = 256
    #: Handlers running at once (events with one key always run one after another).
    concurrency: int = 4
    #: The group's retry policy if this member creates the group: ``RetryPolicy`` fields
    #: (``max_attempts``, ``initial_delay_ms``, ``multiplier_permille``, ``max_delay_ms``,
    #: ``ack_timeout_ms``...).
    retry: Optional[Dict[str, int]] = None
    #: How long a drain lets running handlers finish, in seconds.
    shutdown_deadline: float = 10.0
    #: A new group starts with the oldest stored events, or only new ones.
    start_from_earliest: bool = True


@dataclasses.dataclass
class EventContext:
    """What a handler knows about the delivery it handles, and how it publishes follow-ups."""

    envelope: event_pb2.Event
    attempt: int
    offset: int
    last_error: Optional[str]
    group: str
    _bus: AsyncEventBus = dataclasses.field(repr=False)

    @property
    def event_id(self) -> str:
        return self.envelope.id

    @property
    def key(self) -> Optional[str]:
        return self.envelope.key or None

    @property
    def topic(self) -> str:
        return self.envelope.topic

    @property
    def correlation_id(self) -> str:
        """Shared by every event of one chain: the first event's id."""
        return self.envelope.correlation_id or self.envelope.id

    @property
    def causation_id(self) -> Optional[str]:
        """The id of the event that caused this one."""
        return self.envelope.causation_id or None

    @property
    def headers(self) -> Dict[str, str]:
        return dict(self.envelope.headers)

    @property
    def schema_version(self) -> int:
        """The version the event was published as (the handler sees it upcast)."""
        return self.envelope.schema_version

    async def publish(self, follow_up: Any, *, id: Optional[str] = None, key: Optional[str] = None,
                      headers: Optional[Dict[str, str]] = None) -> PublishReceipt:
        """Publishes an event caused by this one: it inherits the correlation id, its causation
        id is this event's id, and its id (by default ``<this id>/<its type>``) is the same on
        every attempt, so a retried handler does not publish it twice."""
        return await self._bus.publish(
            follow_up, id=id or f"{self.event_id}/{event_type(follow_up).type_name}", key=key, headers=headers,
            correlation_id=self.correlation_id, causation_id=self.event_id)

    async def schedule(self, follow_up: Any, *, at: Any = None, after: Optional[float] = None,
                       id: Optional[str] = None, key: Optional[str] = None,
                       headers: Optional[Dict[str, str]] = None) -> ScheduledReceipt:
        """Like :meth:`publish`, appended later: at ``at`` or ``after`` seconds (see
        :meth:`FerryClient.schedule`). The same id on every attempt schedules it once."""
        return await self._bus.schedule(
            follow_up, at=at, after=after, id=id or f"{self.event_id}/{event_type(follow_up).type_name}", key=key,
            headers=headers, correlation_id=self.correlation_id, causation_id=self.event_id)

    async def cancel_scheduled(self, topic: str, event_id: str) -> bool:
        """Removes a scheduled event before it is due; False when it was not scheduled (or is due)."""
        return await self._bus.cancel(topic, event_id)


@dataclasses.dataclass
class BatchContext:
    """What a batched handler knows about its batch."""

    envelopes: List[event_pb2.Event]
    #: The highest attempt number in the batch.
    attempt: int
    group: str
    _bus: AsyncEventBus = dataclasses.field(repr=False)

    async def publish(self, event: Any, **fields: Any) -> PublishReceipt:
        """Publishes an event from the batch handler (a new chain)."""
        return await self._bus.publish(event, **fields)


Handler = Callable[[Any, EventContext], Awaitable[None]]
BatchHandler = Callable[[List[Any], BatchContext], Awaitable[None]]


@dataclasses.dataclass
class _Registration:
    described: Optional[EventType]  # None: a raw handler of a topic
    handler: Callable[..., Awaitable[None]]
    batch: Optional[Batch] = None


class Worker:
    """A worker process's handler groups on one connection to ferryd."""

    def __init__(self, name: str, endpoint: str = "tcp://127.0.0.1:7400", *, upcasters: Optional[Upcasters] = None,
                 **client_options: Any):
        self.name = name
        self.endpoint = endpoint
        self.upcasters = upcasters
        self._client_options = {"resume_timeout": None, **client_options}
        self._groups: Dict[str, "_GroupRunner"] = {}
        self._options: Dict[str, GroupOptions] = {}
        self._registrations: Dict[str, Dict[str, _Registration]] = {}
        self._stop: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop_requested = False
        #: Set once every group is subscribed (a ``threading.Event``: any thread may wait on it).
        self.ready = threading.Event()
        self.client: Optional[AsyncFerryClient] = None
        self.bus: Optional[AsyncEventBus] = None

    def group(self, name: str, **options: Any) -> GroupOptions:
        """The options of group ``name`` (set them before :meth:`run`): ``GroupOptions`` fields."""
        group = self._options.setdefault(name, GroupOptions())
        for option, value in options.items():
            if not hasattr(group, option):
                raise TypeError(f"unknown group option {option!r}")
            setattr(group, option, value)
        return group

    def on(self, event_class: type, *, group: str, batch: Optional[Batch] = None) -> Callable[[Callable], Callable]:
        """Decorator: the coroutine handles ``event_class`` events in ``group`` (one at a time
        per key, or in batches with ``batch``: then it takes a list of events and a
        :class:`BatchContext`)."""
        described = event_type(event_class)

        def register(handler: Callable) -> Callable:
            handlers = self._registrations.setdefault(group, {})
            if described.type_name in handlers:
                raise ValueError(f"group {group!r} already has a handler for {described.type_name}")
            handlers[described.type_name] = _Registration(described, handler, batch)
            self._options.setdefault(group, GroupOptions())
            return handler

        return register

    def on_raw(self, topic: str, *, group: str) -> Callable[[Callable], Callable]:
        """Decorator: the coroutine handles every event of ``topic`` as received (the wire
        ``Event`` and the context), whatever its type: for bridges and tools."""

        def register(handler: Callable) -> Callable:
            self._registrations.setdefault(group, {})["raw:" + topic] = _Registration(None, handler)
            self._options.setdefault(group, GroupOptions())
            return handler

        return register

    def stop(self) -> None:
        """Starts the drain (also what SIGTERM and SIGINT do); :meth:`run` returns once done.
        May be called from any thread."""
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            stop.set()
        else:
            loop.call_soon_threadsafe(stop.set)

    async def run(self, *, handle_signals: bool = True) -> None:
        """Connects, subscribes every group, handles events until :meth:`stop` (or SIGTERM or
        SIGINT with ``handle_signals``), then drains and disconnects."""
        if not self._registrations:
            raise ValueError("the worker has no handlers: register some with @worker.on first")
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._loop = loop
        if self._stop_requested:
            self._stop.set()
        handle_signals = handle_signals and threading.current_thread() is threading.main_thread()
        if handle_signals:
            # A parent may have started this process with the signals blocked (a blocked mask
            # is inherited across exec; Swift's Foundation.Process does that): a SIGTERM would
            # then wait forever.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop)
        self.client = AsyncFerryClient(self.endpoint, self.name, **self._client_options)
        drained = False
        try:
            await self.client.connect()
            self.bus = AsyncEventBus(self.client)
            self._groups = {
                name: _GroupRunner(name, self._options[name], handlers, self.client, self.bus, self.upcasters, self.name)
                for name, handlers in self._registrations.items()
            }
            for runner in self._groups.values():
                await runner.subscribe()
            by_subscription = {runner.subscription_id: runner for runner in self._groups.values()}
            router = asyncio.ensure_future(self._route(by_subscription))
            log.info("worker %s ready: groups %s", self.name, ",".join(self._groups))
            self.ready.set()
            await self._stop.wait()
            log.info("worker %s draining", self.name)
            await asyncio.gather(*(runner.drain() for runner in self._groups.values()))
            drained = True
            router.cancel()
        finally:
            if not drained:
                for runner in self._groups.values():
                    await asyncio.shield(runner.abandon())
            if handle_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
            await self.client.close()
            log.info("worker %s stopped", self.name)

    def run_forever(self) -> None:
        """:meth:`run` in a new event loop, for a worker's ``main``."""
        asyncio.run(self.run())

    async def _route(self, by_subscription: Dict[int, "_GroupRunner"]) -> None:
        assert self.client is not None
        async for delivery in self.client.deliveries():
            runner = by_subscription.get(delivery.subscription_id)
            if runner is not None:
                runner.route(delivery)


class _GroupRunner:
    """One group of a worker: routes deliveries to lanes (keys hashed so each key stays in
    order) and batch buffers, runs the handlers, settles, and drains."""

    def __init__(self, name: str, options: GroupOptions, handlers: Dict[str, _Registration],
                 client: AsyncFerryClient, bus: AsyncEventBus, upcasters: Optional[Upcasters], member: str):
        self.name = name
        self.options = options
        self.handlers = handlers
        self.client = client
        self.bus = bus
        self.upcasters = upcasters
        self.member = member
        self.subscription_id = 0
        self.type_by_topic = {r.described.topic: t for t, r in handlers.items() if r.described is not None}
        self.draining = False
        self.unsettled: set = set()
        self._round_robin = 0
        self._lanes = [asyncio.Queue() for _ in range(max(1, options.concurrency))]
        self._lane_tasks = [asyncio.ensure_future(self._run_lane(lane)) for lane in self._lanes]
        self._batches: Dict[str, _BatchBuffer] = {
            type_name: _BatchBuffer(registration.batch, lambda batch, r=registration: self._process_batch(batch, r))
            for type_name, registration in handlers.items() if registration.batch is not None
        }
        self._acks: List[int] = []
        self._nacks: List[Dict[str, Any]] = []
        self._flush_scheduled = False

    async def subscribe(self) -> None:
        topics = sorted({r.described.topic for r in self.handlers.values() if r.described is not None}
                        | {name[4:] for name in self.handlers if name.startswith("raw:")})
        largest = max((b.options.max_size for b in self._batches.values()), default=0)
        subscribed = await self.client.subscribe(
            self.name, topics, max_in_flight=max(self.options.max_in_flight, 2 * largest),
            retry=self.options.retry, member_name=self.member,
            start=pb.START_EARLIEST if self.options.start_from_earliest else pb.START_LATEST)
        self.subscription_id = subscribed.subscription_id
        log.info("handler group %s subscribed: topics %s, credit %d", self.name, ",".join(topics),
                 subscribed.max_in_flight)

    def _handler_name(self, event: event_pb2.Event) -> str:
        if event.type in self.handlers:
            return event.type
        if "raw:" + event.topic in self.handlers:
            return "raw:" + event.topic
        return self.type_by_topic.get(event.topic, "") if not event.type else event.type

    def route(self, delivery: pb.Delivery) -> None:
        self.unsettled.add(delivery.delivery_id)
        if self.draining:
            self._release([delivery])
            return
        name = self._handler_name(delivery.event)
        registration = self.handlers.get(name)
        if registration is None:
            self._settle(delivery.delivery_id, DeadLetter(
                f"group '{self.name}' has no handler for event type '{name or delivery.event.type}'"))
        elif registration.batch is not None:
            self._batches[name].append(delivery)
        else:
            key = delivery.event.key
            if key:
                index = zlib.crc32(key.encode("utf-8"))
            else:
                self._round_robin += 1
                index = self._round_robin
            self._lanes[index % len(self._lanes)].put_nowait(delivery)

    async def _run_lane(self, lane: asyncio.Queue) -> None:
        while True:
            delivery = await lane.get()
            if delivery is None:
                return
            if self.draining:
                self._release([delivery])
                continue
            await self._process(delivery)

    def _decode(self, registration: _Registration, event: event_pb2.Event) -> Any:
        if registration.described is None:
            return event
        return registration.described.decode(event.payload, event.schema_version, self.upcasters)

    async def _process(self, delivery: pb.Delivery) -> None:
        registration = self.handlers[self._handler_name(delivery.event)]
        context = EventContext(delivery.event, delivery.attempt, delivery.offset, delivery.last_error or None,
                               self.name, self.bus)
        try:
            event = self._decode(registration, delivery.event)
            with _tracing.process_span(delivery, self.name):
                await registration.handler(event, context)
        except asyncio.CancelledError:
            self._release([delivery])
            raise
        except Exception as error:  # noqa: BLE001 - a handler's failure is the event's outcome
            self._log_failure(error, [delivery.event.id], delivery.attempt)
            self._settle(delivery.delivery_id, error)
            return
        self._settle(delivery.delivery_id, None)

    async def _process_batch(self, batch: List[pb.Delivery], registration: _Registration) -> None:
        if self.draining:
            self._release(batch)
            return
        attempt = max(delivery.attempt for delivery in batch)
        decoded, failed = [], []
        for delivery in batch:
            try:
                decoded.append(self._decode(registration, delivery.event))
            except EventDecodingError as error:
                self._settle(delivery.delivery_id, DeadLetter(str(error)))
                failed.append(delivery)
        batch = [delivery for delivery in batch if delivery not in failed]
        if not batch:
            return
        context = BatchContext([delivery.event for delivery in batch], attempt, self.name, self.bus)
        try:
            await registration.handler(decoded, context)
        except asyncio.CancelledError:
            self._release(batch)
            raise
        except Exception as error:  # noqa: BLE001
            self._log_failure(error, [delivery.event.id for delivery in batch], attempt)
            for delivery in batch:
                self._settle(delivery.delivery_id, error)
            return
        for delivery in batch:
            self._settle(delivery.delivery_id, None)

    def _log_failure(self, error: BaseException, event_ids: Sequence[str], attempt: int) -> None:
        shown = ",".join(event_ids[:5]) + (",…" if len(event_ids) > 5 else "")
        log.warning("handler failed: group=%s events=%s attempt=%d error=%s", self.name, shown, attempt, error)

    # -- settling -----------------------------------------------------------------------------

    def _settle(self, delivery_id: int, error: Optional[BaseException]) -> None:
        if delivery_id not in self.unsettled:
            return
        self.unsettled.discard(delivery_id)
        if error is None:
            self._acks.append(delivery_id)
        elif isinstance(error, DeadLetter):
            self._nacks.append(dict(delivery=delivery_id, dead_letter=True, error=error.reason))
        elif isinstance(error, EventDecodingError):
            self._nacks.append(dict(delivery=delivery_id, dead_letter=True, error=str(error)))
        elif isinstance(error, RetryLater):
            self._nacks.append(dict(delivery=delivery_id, delay_ms=max(0, int(error.seconds * 1000)), error=error.reason))
        else:
            self._nacks.append(dict(delivery=delivery_id, error=f"{type(error).__name__}: {error}"))
        self._schedule_flush()

    def _release(self, deliveries: Sequence[pb.Delivery]) -> None:
        for delivery in deliveries:
            if delivery.delivery_id in self.unsettled:
                self.unsettled.discard(delivery.delivery_id)
                self._nacks.append(dict(delivery=delivery.delivery_id, release=True))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        # Settlements of one turn of the event loop go to the client's thread in one call.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        acks, nacks = self._acks, self._nacks
        self._acks, self._nacks = [], []
        if not acks and not nacks:
            return

        def settle(client: Any) -> None:
            client.settle_later(acks=acks, nacks=[(nack.pop("delivery"), nack) for nack in nacks])

        self.client.submit(settle)

    # -- draining -----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stops taking deliveries; lets running handlers finish until the deadline; hands back
        the rest without spending an attempt."""
        self.draining = True
        # Sent whatever happens (shielded: a timeout must not take the call back before the
        # client's thread runs it); waited for 2 s at most: a dead broker must not hold the shutdown.
        unsubscribe = asyncio.wrap_future(self.client.submit(
            lambda client: client.unsubscribe(self.subscription_id, drain=True)))
        try:
            await asyncio.wait_for(asyncio.shield(unsubscribe), 2.0)
        except Exception as error:  # noqa: BLE001
            log.warning("unsubscribing group %s on shutdown: %s", self.name, error)
        for lane in self._lanes:
            lane.put_nowait(None)
        for buffer in self._batches.values():
            buffer.close()
        tasks = self._lane_tasks + [buffer.task for buffer in self._batches.values() if buffer.task is not None]
        done, running = await asyncio.wait(tasks, timeout=self.options.shutdown_deadline)
        if running:
            log.warning("handlers still running at the shutdown deadline: cancelled (group %s)", self.name)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        # What is left (queued in lanes or buffers) goes back.
        for lane in self._lanes:
            while not lane.empty():
                delivery = lane.get_nowait()
                if delivery is not None:
                    self._release([delivery])
        for buffer in self._batches.values():
            self._release(buffer.take_all())
        self.hand_back()

    def hand_back(self) -> None:
        """Releases every delivery not settled yet (without an attempt counted), and sends."""
        for delivery_id in list(self.unsettled):
            self.unsettled.discard(delivery_id)
            self._nacks.append(dict(delivery=delivery_id, release=True))
        self._flush()

    async def abandon(self) -> None:
        """For a worker that stops without a drain (its run failed or was cancelled): the tasks
        end, and what is held goes back without an attempt counted."""
        self.draining = True
        tasks = self._lane_tasks + [buffer.task for buffer in self._batches.values() if buffer.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.hand_back()


class _BatchBuffer:
    """Deliveries of one batched handler, cut at ``max_size`` or ``max_wait`` after the first."""

    def __init__(self, options: Batch, consume: Callable[[List[pb.Delivery]], Awaitable[None]]):
        self.options = options
        self._consume = consume
        self._items: List[pb.Delivery] = []
        self._first_at: Optional[float] = None
        self._changed = asyncio.Event()
        self._closed = False
        self.task: Optional[asyncio.Future] = asyncio.ensure_future(self._run())

    def append(self, delivery: pb.Delivery) -> None:
        if not self._items:
            self._first_at = asyncio.get_running_loop().time()
        self._items.append(delivery)
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    def take_all(self) -> List[pb.Delivery]:
        items, self._items = self._items, []
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._items:
                self._changed.clear()
                await self._changed.wait()
                continue
            due = (self._first_at or loop.time()) + self.options.max_wait
            if len(self._items) < self.options.max_size and loop.time() < due:
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), max(0.0, due - loop.time()))
                except asyncio.TimeoutError:
                    pass
                continue
            batch = self._items[:self.options.max_size]
            self._items = self._items[self.options.max_size:]
            self._first_at = loop.time() if self._items else None
            try:
                await self._consume(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bug here must not end the handler's loop
                log.exception("batch handler loop: unexpected error; the batch goes back at the shutdown")
