"""A small synchronous Ferry client over one ZeroMQ DEALER socket.

The client is single-threaded: heartbeats are sent, replies matched and deliveries buffered
only while one of its methods runs (``receive``, ``publish``, any request, ``poll``). A
consumer whose handler runs longer than ``peer_timeout_ms`` between calls will be declared
dead by the broker (with ``auto_resume`` the client then sets its session up again, and the
deliveries it held are redelivered); call :meth:`FerryClient.poll` from long handlers or keep
handlers short.

Broker restarts are handled by :mod:`ferry_client.resume` (``auto_resume``, on by default).
"""
from __future__ import annotations

import collections
import logging
import math
import os
import time
from typing import Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Union

import zmq

from .errors import (  # noqa: F401 - re-exported: they used to live here
    BrokerDead, BrokerError, BrokerRestarted, FerryError, ItemRejection, PublishRejected, RequestTimeout,
    SubscriptionEnded,
)
from .protocol import commands_pb2 as pb, error_code_name, event_pb2
from .publishing import Publication
from .resume import ResumeMixin, _Voided
from .security import CurveKeys, KeyText, ServerKey, resolve_curve_keys
from .trace import Trace
from . import tracing as _tracing
from .transport import SETTLE_DELAY, TransportMixin

log = logging.getLogger("ferry_client")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7400"
#: Section 5.2 defaults, used until a Welcome arrives.
DEFAULT_WELCOME = dict(protocol_version=1, heartbeat_interval_ms=1000, peer_timeout_ms=5000,
                       max_payload_bytes=1048576, max_batch=4096)
SETTLE_BATCH = 256

EventLike = Union[event_pb2.Event, Mapping]
DeliveryLike = Union[pb.Delivery, int]


class Scheduled(NamedTuple):
    """What :meth:`FerryClient.schedule` confirmed for one event: stored for later, to be
    appended at ``due_us`` (µs since 1970; ``duplicate`` when that id was scheduled before), or
    published at once at ``offset`` (``due_us`` 0)."""

    due_us: int
    duplicate: bool
    offset: Optional[int]


def make_event(topic: str, id: str, payload: Union[bytes, str] = b"", **fields) -> event_pb2.Event:
    """Build an ``Event``; a ``str`` payload is encoded as UTF-8. Other fields by keyword."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return event_pb2.Event(topic=topic, id=id, payload=payload, **fields)


def _to_event(event: EventLike) -> event_pb2.Event:
    if isinstance(event, event_pb2.Event):
        return event
    return make_event(**event)


def _trace_selector(event_id: Optional[str], key: Optional[str], correlation_id: Optional[str]) -> Dict[str, str]:
    """The ``TraceRequest`` selector field of exactly one non-empty id, key or correlation id."""
    given = {name: value for name, value in (("event_id", event_id), ("key", key), ("correlation_id", correlation_id))
             if value is not None}
    if len(given) != 1:
        raise ValueError("a trace needs exactly one of event_id, key or correlation_id; got "
                         + (", ".join(given) if given else "none"))
    (name, value), = given.items()
    if not isinstance(value, str) or not value:
        raise ValueError(f"a trace's {name} must be a non-empty string; got {value!r}")
    return given


class FerryClient(TransportMixin, ResumeMixin):
    """One Ferry session (one DEALER socket).

    >>> with FerryClient("tcp://127.0.0.1:7400", "my-app") as c:
    ...     c.publish([{"topic": "orders.created", "id": "o-1", "payload": "{}"}])

    Sends ``Hello`` on construction unless ``hello=False``; the ``Welcome`` is in ``welcome``.

    Broker restarts (``auto_resume=True``, the default): when the broker's ``broker_id`` changes,
    the client resumes by itself the next time one of its methods runs: it says ``Goodbye`` and
    ``Hello`` again, re-sends every active ``Subscribe`` (deliveries keep the subscription ids
    ``subscribe`` returned), drops the acks/nacks and buffered deliveries of the earlier run (ferryd
    redelivers those events: at-least-once; acking a delivery of an earlier run is a no-op), and
    ``publish`` resends what was not confirmed, with the same event ids (see
    :mod:`ferry_client.resume`). While the broker is silent the client waits (a few heartbeats
    stay queued for it); :class:`BrokerDead` is raised only after ``resume_timeout`` seconds of
    silence (``None``: never; at least 3 heartbeat intervals of the ``Welcome``), and the client
    stays usable after it. A broker that comes back with the same ``broker_id`` may have kept the
    session: the client checks, and resumes only if it ended it. Delivery ids handed out after a
    resume carry a resume counter in their top 16 bits: treat them as opaque.

    With ``auto_resume=False``, or against a broker that sends no ``broker_id``, nothing is
    resumed: :class:`BrokerDead` is raised after ``peer_timeout_ms`` of silence, and
    :class:`BrokerRestarted` (a ``BrokerDead``) when the broker id changes; the session is then
    void: close the client and create a new one.

    CURVE (a ferryd started with ``--curve-secret-key-file`` and ``--credentials``): pass
    ``server_key`` (the server's public key, 40 Z85 characters, or the path of its public
    certificate ``NAME.key``) and this client's key pair: ``client_key_file`` (the path of its
    secret certificate ``NAME.key_secret``, as ``ferry keygen`` or pyzmq's
    ``zmq.auth.create_certificates`` write it) or ``client_keys`` (a ``(public, secret)`` pair of
    Z85 keys). If none of the three is given they come from the environment variables
    ``FERRY_SERVER_KEY`` and ``FERRY_CLIENT_KEY_FILE``; ``server_key=""`` connects in plaintext
    whatever the environment says. Bad or half-given keys raise :class:`ValueError` before
    anything is connected (see :func:`ferry_client.security.resolve_curve_keys`). The keys in use
    are in ``curve`` (``None`` in plaintext), the principal ferryd authenticated this client as in
    :attr:`principal`. A ferryd that does not know the client's key (or a client without keys
    against a CURVE ferryd, or a wrong server key) refuses the handshake, which the client cannot
    see: its commands time out (:class:`RequestTimeout`, naming the likely cause).
    Authorization errors are :class:`Forbidden` (no grant), :class:`Unauthenticated` (the key was
    removed from the credentials while connected) and :class:`SubscriptionEnded` (a reload
    revoked a subscription's grant; raised by :meth:`receive`, recorded in
    ``subscriptions_ended``).
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, client_name: str = "ferry-python", *,
                 hello: bool = True, context: Optional[zmq.Context] = None, linger_ms: int = 200,
                 auto_resume: bool = True, resume_timeout: Optional[float] = 60.0,
                 server_key: Optional[ServerKey] = None, client_key_file: Union[str, "os.PathLike[str]", None] = None,
                 client_keys: Optional[Sequence[KeyText]] = None):
        self._init_resume(auto_resume, resume_timeout)  # validates resume_timeout: before the socket exists
        #: The CURVE keys this client connects with (``None``: plaintext).
        self.curve: Optional[CurveKeys] = resolve_curve_keys(server_key, client_key_file, client_keys)
        self.endpoint = endpoint
        self.client_name = client_name
        self.welcome = pb.Welcome(**DEFAULT_WELCOME)
        self.heartbeats_received = 0
        self.unsolicited_errors: collections.deque = collections.deque()
        #: Every subscription the broker ended on its own (:class:`SubscriptionEnded`), oldest first.
        self.subscriptions_ended: List[SubscriptionEnded] = []
        self.closed = False
        self._heard = False  # anything received from the broker yet (else a timeout names likely causes)
        self._socket = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, linger_ms)
        self._socket.setsockopt(zmq.ROUTING_ID, f"{client_name[:200]}-{os.urandom(16).hex()}".encode())
        if self.curve is not None:
            self.curve.apply(self._socket)  # before connecting: the handshake uses them
        self._socket.connect(endpoint)
        self._next_request_id = 1
        self._next_sequence = 1
        self._pending: set = set()   # request ids awaiting a reply
        self._replies: dict = {}     # request id -> ServerMessage
        self._buffer: collections.deque = collections.deque()  # received, not yet handed out
        # Subscriptions by the id the user holds (the broker's own id until the session is first
        # resumed), kept across broker restarts, and the current broker run's ids for them.
        self._subscriptions: Dict[int, pb.Subscribe] = {}
        self._subscribe_requests: Dict[int, pb.Subscribe] = {}  # request id -> command
        self._next_local = 1
        self._server_to_local: Dict[int, int] = {}
        self._local_to_server: Dict[int, int] = {}
        self._unsubscribed: set = set()  # broker subscription ids whose deliveries are dropped
        self._ended: set = set()  # subscription ids (the user's) the broker ended
        self._ended_to_raise: collections.deque = collections.deque()  # SubscriptionEnded for receive
        self._wake_socket: Optional[zmq.Socket] = None  # see set_wake_socket
        self._poller: Optional[zmq.Poller] = None
        self._woken = False
        self._draining: set = set()  # broker subscription ids unsubscribed with drain
        self._acks: List[int] = []
        self._nacks: List[pb.Nack] = []
        self._settle_since: Optional[float] = None
        self._last_send = time.monotonic()
        self._last_beat = self._last_send  # last send, or heartbeat held back while the broker is silent
        self._last_recv: Optional[float] = None  # set on first send: silence counts from then
        if hello:
            try:
                self.hello()
            except BaseException:
                self.closed = True
                self._socket.close(linger=0)
                raise

    # -- session ------------------------------------------------------------------------------

    @property
    def heartbeat_interval(self) -> float:
        """Seconds of send-idleness after which a Heartbeat is sent (from Welcome)."""
        return (self.welcome.heartbeat_interval_ms or DEFAULT_WELCOME["heartbeat_interval_ms"]) / 1000

    @property
    def peer_timeout(self) -> float:
        """Seconds of silence after which the broker is dead; also the default request timeout."""
        return (self.welcome.peer_timeout_ms or DEFAULT_WELCOME["peer_timeout_ms"]) / 1000

    @property
    def principal(self) -> Optional[str]:
        """The principal ferryd authenticated this connection as (``Welcome.principal``: the name
        its credentials file gives this client's CURVE key); ``None`` without security, or
        before a ``Welcome``."""
        return self.welcome.principal or None

    def hello(self, timeout: Optional[float] = None) -> pb.Welcome:
        """Send ``Hello``; store and return the ``Welcome`` (its values are then in effect)."""
        self.welcome = self._request("hello", pb.Hello(client_name=self.client_name), "welcome", timeout)
        return self.welcome

    def close(self) -> None:
        """Flush pending settlements, send ``Goodbye`` and close the socket. Idempotent. Never
        waits: if the send queue to the broker is full (it has been away for long), what does not
        fit is dropped (ferryd redelivers unsettled deliveries)."""
        if self.closed:
            return
        try:
            for what, send in (("settlements", lambda: self._flush(resume=False, wait=0)),
                               ("goodbye", lambda: self._send(pb.ClientMessage(goodbye=pb.Goodbye()), wait=0))):
                try:
                    send()
                except (zmq.ZMQError, FerryError) as error:
                    log.warning("ferry: %s not sent on closing: %s", what, error)
        finally:
            self.closed = True
            self._socket.close()

    def __enter__(self) -> "FerryClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, events: Iterable[EventLike], *, batch_size: int = 256, window: int = 16,
                timeout: Optional[float] = None) -> List[int]:
        """Publish events and wait until every one is confirmed; return their offsets in order.

        Events (``Event`` messages or dicts for :func:`make_event`) are split into batches of at
        most ``batch_size`` (and ``max_batch``); up to ``window`` batches are in flight at once.
        ``timeout`` bounds the wait for each batch's result (default ``peer_timeout``), and for
        room in the send queue. ``window`` below 1 counts as 1.
        Raises :class:`PublishRejected` after all results are in if any item was rejected (or
        its whole batch failed with ``Error``); the exception carries the confirmed offsets.
        Resending rejected or timed-out events with the same ``id`` is safe (dedup). With CURVE,
        an event whose topic the principal may not publish to is rejected ``FORBIDDEN`` (the
        others are stored), one with a ``ferry-principal`` header ``INVALID_ARGUMENT`` (the broker
        sets it), and every event of a connection whose key was revoked ``UNAUTHENTICATED``.

        With ``auto_resume``, events not confirmed when the broker restarts (or answered
        ``SHUTTING_DOWN``) are sent again, with the same ids, once it is back: each resent batch
        has ``timeout`` again. :class:`RequestTimeout` (with the ``offsets`` confirmed so far) is
        raised if the broker does not confirm them within ``timeout``.

        With OpenTelemetry recording (:mod:`ferry_client.tracing`), each event gets a ``send``
        span and is sent with its context in the headers (``traceparent``, ``tracestate``): a
        copy is sent, the caller's events are not changed.
        """
        events = [_to_event(e) for e in events]
        batch_size = max(1, min(batch_size, self.welcome.max_batch or DEFAULT_WELCOME["max_batch"]))
        timeout = self.peer_timeout if timeout is None else timeout
        spans = _tracing.start_publish(events)  # None unless OpenTelemetry records (ferry_client.tracing)
        if spans is None:
            return Publication(self, events, batch_size, window, timeout).run()
        try:
            offsets = Publication(self, spans.events, batch_size, window, timeout).run()
        except BaseException as error:
            spans.end(error)
            raise
        spans.end()
        return offsets

    def schedule(self, events: Iterable[EventLike], *, at: Union[float, "datetime.datetime", None] = None,
                 after: Optional[float] = None, batch_size: int = 256, window: int = 16,
                 timeout: Optional[float] = None) -> List[Scheduled]:
        """Publish events to be appended to their topics later: at ``at`` (a UNIX time in seconds
        or an aware ``datetime``) or ``after`` seconds from when ferryd reads them (one of the two).
        Returns a :class:`Scheduled` per event, in order (protocol section 5.14).

        ferryd stores them durably and confirms at once; no group receives them before they are
        due, and they survive restarts. An event published at once instead (a time already past,
        or an id ferryd stored within its dedup window) has its ``offset`` and ``due_us`` 0.
        Scheduling an id again while it waits confirms the same event (``duplicate``) with its
        first due time; :meth:`cancel_scheduled` removes one before it is due. Rejections and
        resends work as in :meth:`publish`. A broker that keeps no schedule
        (``Welcome.max_schedule_delay_ms`` 0, or an older one, which would publish at once) is
        refused here with :class:`FerryError`.
        """
        if (at is None) == (after is None):
            raise ValueError("give exactly one of at= and after=")
        if not self.welcome.max_schedule_delay_ms:
            raise FerryError(f"ferryd at {self.endpoint} keeps no schedule (Welcome.max_schedule_delay_ms is 0)")
        at_us = after_ms = 0
        if at is not None:
            seconds = at.timestamp() if hasattr(at, "timestamp") else float(at)
            at_us = min(max(1, math.ceil(seconds * 1_000_000)), 2**63 - 1)
        else:
            if after < 0:
                raise ValueError("after= must not be negative")
            after_ms = math.ceil(after * 1000)
        events = [_to_event(e) for e in events]
        batch_size = max(1, min(batch_size, self.welcome.max_batch or DEFAULT_WELCOME["max_batch"]))
        timeout = self.peer_timeout if timeout is None else timeout
        publication = Publication(self, events, batch_size, window, timeout, at_us, after_ms)
        offsets = publication.run()
        results = []
        for index, offset in enumerate(offsets):
            confirmation = publication.scheduled.get(index)
            if confirmation is None:
                results.append(Scheduled(due_us=0, duplicate=False, offset=offset))
            else:
                results.append(Scheduled(due_us=confirmation.due_us, duplicate=confirmation.duplicate, offset=None))
        return results

    def cancel_scheduled(self, topic: str, event_id: str, *, timeout: Optional[float] = None) -> pb.ScheduledCancelled:
        """Remove a scheduled event before it is due. Returns ``ScheduledCancelled``: ``outcome`` is
        ``CANCEL_OUTCOME_CANCELLED``, ``CANCEL_OUTCOME_NOT_SCHEDULED`` (never scheduled, cancelled
        before, or already appended) or ``CANCEL_OUTCOME_ALREADY_DUE``; ``due_us`` when it was due."""
        return self._request("cancel_scheduled", pb.CancelScheduled(topic=topic, event_id=event_id),
                            "scheduled_cancelled", timeout)

    # -- consuming ----------------------------------------------------------------------------

    def subscribe(self, group: str, patterns: Union[str, Sequence[str]], *, max_in_flight: int = 0,
                  retry: Union[pb.RetryPolicy, Mapping, None] = None, start: int = pb.START_EARLIEST,
                  member_name: str = "", timeout: Optional[float] = None) -> pb.Subscribed:
        """Join consumer ``group`` with topic ``patterns``; return ``Subscribed``.

        ``max_in_flight`` is the credit (0 = broker default); ``retry`` (a ``RetryPolicy`` or a
        dict of its fields) and ``start`` only apply if this call creates the group. With
        ``auto_resume`` the subscription is renewed after a broker restart and keeps its
        ``subscription_id``.
        """
        command = pb.Subscribe(group=group, patterns=[patterns] if isinstance(patterns, str) else patterns,
                               max_in_flight=max_in_flight, start=start, member_name=member_name)
        if retry is not None:
            command.retry.CopyFrom(retry if isinstance(retry, pb.RetryPolicy) else pb.RetryPolicy(**retry))
        while True:
            request_id = self._send_command("subscribe", command, timeout)
            epoch = self._epoch  # after the send: a resume it set off does not count
            self._subscribe_requests[request_id] = command
            try:
                return self._wait_reply(request_id, "subscribed", timeout)
            except _Voided:
                continue  # sent to an earlier broker run: subscribe on the new one
            except BrokerError:
                if self._epoch != epoch:
                    continue  # answered by an earlier run (e.g. SHUTTING_DOWN): try the new one
                raise
            finally:
                self._subscribe_requests.pop(request_id, None)

    def unsubscribe(self, subscription_id: int, timeout: Optional[float] = None, *, drain: bool = False) -> None:
        """Remove one subscription (an id ``subscribe`` returned); deliveries still arriving for
        it are discarded. An id that is not one of this client's raises :class:`BrokerError`
        ``UNKNOWN_SUBSCRIPTION`` (as the broker would); one the broker ended
        (:class:`SubscriptionEnded`) is gone already: nothing is done.

        With ``drain`` (a graceful stop), the deliveries handed out already may still be acked or
        nacked: the broker ends the subscription once they are settled. Those still buffered, and
        any arriving after, are released (``nack(release=True)``): they go to another member
        without counting an attempt. Without it, the broker takes back every unsettled delivery
        at once."""
        self._check_mute()  # a resume renews the subscriptions under new broker ids: resolve after it
        if subscription_id in self._ended and subscription_id not in self._subscriptions:
            return
        if self._subscriptions.pop(subscription_id, None) is None:
            raise BrokerError(pb.UNKNOWN_SUBSCRIPTION, f"subscription {subscription_id} is not one of this client's")
        if drain:
            for delivery in self._buffer:
                if delivery.subscription_id == subscription_id:
                    self.nack(delivery, release=True)
        self._buffer = collections.deque(d for d in self._buffer if d.subscription_id != subscription_id)
        server = self._local_to_server.pop(subscription_id, None)
        if server is None:
            return  # not set up on the current broker run: its renewal, when answered, ends it
        self._server_to_local.pop(server, None)
        self._unsubscribed.add(server)
        if drain:
            self._draining.add(server)
        # If the broker restarts meanwhile, the resume's Goodbye ends it and it is not renewed.
        self._request("unsubscribe", pb.Unsubscribe(subscription_id=server, drain=drain), "unsubscribed", timeout,
                      on_restart="done", check_mute=False)
        self._buffer = collections.deque(d for d in self._buffer if d.subscription_id != subscription_id)

    def receive(self, timeout: Optional[float] = None) -> Optional[pb.Delivery]:
        """Return the next ``Delivery`` (with ``event``, ``attempt``, ``delivery_id``...), or
        ``None`` after ``timeout`` seconds (``None`` = wait forever). Every delivery must be
        settled with :meth:`ack` or :meth:`nack` before the group's ack timeout.

        Raises :class:`SubscriptionEnded` once for each subscription the broker ended on its own
        (e.g. a reload of its credentials revoked the grant): its buffered deliveries are dropped
        and it is forgotten; the others go on, so call ``receive`` again to keep consuming them.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._raise_deferred()
        if self._buffer:
            self._tick()  # timers are due while a handler works through the buffer, too
            self._raise_deferred()
        self._woken = False
        while not self._buffer:
            self._step(deadline)
            self._raise_deferred()
            if not self._buffer and (self._woken or (deadline is not None and time.monotonic() >= deadline)):
                self._woken = False
                return None
        return self._buffer.popleft()

    def receive_batch(self, max_count: int, timeout: Optional[float] = None) -> List[pb.Delivery]:
        """Like :meth:`receive`, but returns every delivery at hand, at most ``max_count`` of them
        (an empty list after ``timeout``, or when woken, see :meth:`set_wake_socket`)."""
        first = self.receive(timeout)
        if first is None:
            return []
        batch = [first]
        while self._buffer and len(batch) < max_count:
            batch.append(self._buffer.popleft())
        return batch

    def deliveries(self, idle_timeout: Optional[float] = None) -> Iterator[pb.Delivery]:
        """Yield deliveries as they arrive; stop after ``idle_timeout`` seconds without one.
        Raises what :meth:`receive` raises (e.g. :class:`SubscriptionEnded`), which ends the
        iteration: call ``deliveries`` again to go on with the remaining subscriptions."""
        while True:
            delivery = self.receive(idle_timeout)
            if delivery is None:
                return
            yield delivery

    def ack(self, *deliveries: DeliveryLike) -> None:
        """Acknowledge deliveries (``Delivery`` messages or delivery ids); sent batched."""
        self._acks.extend(d if isinstance(d, int) else d.delivery_id for d in deliveries)
        self._settle_queued()

    def nack(self, delivery: DeliveryLike, *, error: str = "", delay_ms: Optional[int] = None,
             dead_letter: bool = False, release: bool = False) -> None:
        """Report a failed delivery: retried after ``delay_ms`` (or the group's backoff), or
        dead-lettered at once if ``dead_letter``. ``error`` is kept as the event's last error.
        With ``release`` the event was not processed (e.g. shutting down): it goes to any member
        at once, without counting an attempt."""
        nack = pb.Nack(delivery_id=delivery if isinstance(delivery, int) else delivery.delivery_id,
                       dead_letter=dead_letter, error=error, release=release)
        if delay_ms is not None:
            nack.delay_ms = delay_ms
        self._nacks.append(nack)
        self._settle_queued()

    def settle_later(self, acks: Sequence[DeliveryLike] = (), nacks: Sequence = ()) -> None:
        """Queue acks (deliveries or ids) and nacks (``(delivery, options)`` pairs, the options
        of :meth:`nack`) without sending them now: the client's timers send them within
        ``SETTLE_DELAY`` while one of its methods runs, never blocking for a full send queue
        (they then stay queued). For a thread that must not block, such as
        :mod:`ferry_client.aio`'s."""
        self._acks.extend(d if isinstance(d, int) else d.delivery_id for d in acks)
        for delivery, options in nacks:
            nack = pb.Nack(delivery_id=delivery if isinstance(delivery, int) else delivery.delivery_id,
                           dead_letter=options.get("dead_letter", False), error=options.get("error", ""),
                           release=options.get("release", False))
            if options.get("delay_ms") is not None:
                nack.delay_ms = options["delay_ms"]
            self._nacks.append(nack)
        if (self._acks or self._nacks) and self._settle_since is None:
            self._settle_since = time.monotonic()

    def flush(self) -> None:
        """Send queued acks and nacks now (one ``Settle``). Those of deliveries from a session
        the client has since resumed are dropped (ferryd redelivers those events). Raises
        :class:`RequestTimeout` if the send queue stays full for ``peer_timeout`` (the broker is
        not reading); the settlements then stay queued."""
        self._flush()

    def _flush(self, resume: bool = True, wait: Optional[float] = None) -> None:
        if self._acks or self._nacks:
            if resume:
                self._check_mute()  # first: the acks of an ended session must not reach the new one
            acks, nacks = self._current_settlements()
            if acks or nacks:
                self._send(pb.ClientMessage(settle=pb.Settle(acks=acks, nacks=nacks)), wait)
            self._acks, self._nacks, self._settle_since = [], [], None

    def poll(self, timeout: float = 0.0) -> None:
        """Process traffic (heartbeats, replies, deliveries into the buffer) for ``timeout`` s, or
        until woken (see :meth:`set_wake_socket`)."""
        deadline = time.monotonic() + timeout
        self._woken = False
        self._step(deadline)
        while time.monotonic() < deadline and not self._woken:
            self._step(deadline)
        self._woken = False

    # -- dead letters and stats ----------------------------------------------------------------

    def dlq_list(self, group: str, after_id: int = 0, limit: int = 0,
                 timeout: Optional[float] = None) -> pb.DeadLetterEntries:
        """List a group's dead letters with ``id > after_id`` (``entries``, ``total``)."""
        return self._request("dead_letter_list", pb.DeadLetterList(group=group, after_id=after_id, limit=limit),
                             "dead_letter_entries", timeout)

    def dlq_requeue(self, group: str, ids: Sequence[int] = (), all: bool = False,
                    timeout: Optional[float] = None) -> int:
        """Requeue dead letters (by id, or ``all``) for redelivery from attempt 1; return the count."""
        return self._repeat_all(all, lambda: self._request(
            "dead_letter_requeue", pb.DeadLetterRequeue(group=group, ids=ids, all=all), "dead_letter_count", timeout,
            on_restart="fail"))

    def dlq_purge(self, group: str, ids: Sequence[int] = (), all: bool = False,
                  timeout: Optional[float] = None) -> int:
        """Delete dead letters (by id, or ``all``) and their events; return the count. ``ids`` holds at
        most ``max_ids`` (10000); ``all`` repeats the command until the queue is empty."""
        return self._repeat_all(all, lambda: self._request(
            "dead_letter_purge", pb.DeadLetterPurge(group=group, ids=ids, all=all), "dead_letter_count", timeout,
            on_restart="fail"))

    @staticmethod
    def _repeat_all(all: bool, send) -> int:
        """The count of a dead-letter command; with ``all``, sent again while the queue still holds
        entries and the last reply changed some (the broker takes at most ``max_ids`` per command)."""
        total = 0
        while True:
            reply = send()
            total += reply.count
            if not all or reply.count == 0 or reply.remaining == 0:
                return total

    def stats(self, timeout: Optional[float] = None) -> pb.Stats:
        """Return the broker's ``Stats`` (groups, topics, stored bytes, connections, metrics)."""
        return self._request("stats", pb.StatsRequest(), "stats", timeout)

    # -- traces --------------------------------------------------------------------------------

    def trace(self, event_id: Optional[str] = None, *, key: Optional[str] = None,
              correlation_id: Optional[str] = None, max_events: int = 10000, page_size: int = 500,
              timeout: Optional[float] = None) -> Trace:
        """The recorded life of events from the broker's trace log (see :mod:`ferry_client.trace`):
        the event ``event_id``, every event with ``key``, or every event of ``correlation_id``
        (and the event whose id it is), each with the events it caused, recursively; give exactly
        one of the three. Pages of ``page_size`` events (at most 1000) are fetched until all are
        there or ``max_events`` were (then ``truncated`` is set). An id the broker never recorded
        (or no longer keeps) gives a :class:`Trace` without events. ``timeout`` bounds each page.

        ferryd writes its trace asynchronously: steps of the last few milliseconds may be
        missing. A search reads the broker's whole trace log and may take a second or more on a
        large one: give a ``timeout`` to match. A broker without a trace log answers
        :class:`BrokerError` ``INVALID_ARGUMENT``; with security, a principal without the history
        grant gets :class:`Forbidden`.
        """
        selector = _trace_selector(event_id, key, correlation_id)
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1; got {max_events}")
        page_size = max(1, min(page_size, 1000))
        events: List[pb.TracedEvent] = []
        skip, sampling = 0, ""
        while True:
            page = self._trace_request(selector, min(page_size, max_events - len(events)), skip, timeout)
            events.extend(page.events)
            sampling = page.sampling
            if not page.more or not page.events:
                return Trace(events, sampling, truncated=False)
            skip = page.next_skip
            if len(events) >= max_events:
                return Trace(events, sampling, truncated=True)

    def trace_page(self, event_id: Optional[str] = None, *, key: Optional[str] = None,
                   correlation_id: Optional[str] = None, limit: int = 100, skip: int = 0,
                   timeout: Optional[float] = None) -> pb.TraceReply:
        """One page of a trace (see :meth:`trace`): the ``TraceReply`` with at most ``limit``
        events (at most 1000) after the ``skip`` that earlier pages returned; while ``more`` is
        set, ask again with ``skip=reply.next_skip``."""
        return self._trace_request(_trace_selector(event_id, key, correlation_id), limit, skip, timeout)

    def _trace_request(self, selector: Dict[str, str], limit: int, skip: int,
                       timeout: Optional[float]) -> pb.TraceReply:
        if limit < 1 or skip < 0:
            raise ValueError(f"a trace page needs limit >= 1 and skip >= 0; got limit {limit}, skip {skip}")
        request = pb.TraceRequest(limit=min(limit, 1000), skip=skip, **selector)
        return self._request("trace", request, "trace", timeout)

    # -- diagnostics ---------------------------------------------------------------------------

    def send_raw(self, frames: Sequence[bytes]) -> None:
        """Send arbitrary frames (for protocol tests); replies to them land in the usual places."""
        self._send_frames(frames, None, "raw frames")

    def next_unsolicited_error(self, timeout: float) -> Optional[pb.ServerMessage]:
        """Wait up to ``timeout`` s for a ``ServerMessage`` carrying an ``Error`` that answers no
        pending request (normally ``request_id`` 0: a message the broker could not decode)."""
        deadline = time.monotonic() + timeout
        while not self.unsolicited_errors and time.monotonic() < deadline:
            self._step(deadline)
        return self.unsolicited_errors.popleft() if self.unsolicited_errors else None

    # -- internals -----------------------------------------------------------------------------

    def _request(self, field: str, command, expect: str, timeout: Optional[float], *, on_restart: str = "resend",
                 check_mute: bool = True):
        """Send a command and wait for its reply. If the broker restarts before answering:
        ``resend`` it (read-only commands), treat it as ``done`` (returns ``None``), or ``fail``
        with :class:`RequestTimeout` (its outcome is unknown)."""
        while True:
            request_id = self._send_command(field, command, timeout, check_mute=check_mute)
            try:
                return self._wait_reply(request_id, expect, timeout)
            except _Voided:
                if on_restart == "done":
                    return None
                if on_restart == "fail":
                    raise RequestTimeout(f"ferryd at {self.endpoint} restarted before answering {field} (request "
                                         f"{request_id}); it may or may not have taken effect") from None
                log.debug("ferry: sending %s again after the broker restart", field)

    def _register(self, command: pb.Subscribe, subscribed: pb.Subscribed) -> None:
        """A new subscription: give it the id the user will hold (the broker's, in its first run)."""
        local = self._next_local
        self._next_local += 1
        self._subscriptions[local] = command
        self._server_to_local[subscribed.subscription_id] = local
        self._local_to_server[local] = subscribed.subscription_id
        subscribed.subscription_id = local

    def _accept(self, deliveries) -> None:
        if self._resume_hello is not None:
            # Sent before the broker read the resume's Goodbye: of an ended session, redelivered.
            log.debug("ferry: dropping %d deliveries of the session before the resume", len(deliveries))
            return
        for delivery in deliveries:
            if delivery.subscription_id in self._unsubscribed:
                if delivery.subscription_id in self._draining:
                    # Sent before the broker read the drain: back to the group (flushed by the timers).
                    self._tag(delivery)
                    self._nacks.append(pb.Nack(delivery_id=delivery.delivery_id, release=True))
                    if self._settle_since is None:
                        self._settle_since = time.monotonic()
                continue
            local = self._server_to_local.get(delivery.subscription_id)
            if local is not None:
                delivery.subscription_id = local
            self._tag(delivery)
            self._buffer.append(delivery)

    def _end_subscription(self, local: int, code: int, message: str, server: Optional[int] = None) -> None:
        """The broker ended subscription ``local`` (its id ``server`` in the current run, if set
        up there): forget it, drop its buffered deliveries, and have ``receive`` raise it."""
        command = self._subscriptions.pop(local, None)
        self._local_to_server.pop(local, None)
        if server is not None:
            self._server_to_local.pop(server, None)
            self._unsubscribed.add(server)  # deliveries still on their way are dropped
        before = len(self._buffer)
        self._buffer = collections.deque(d for d in self._buffer if d.subscription_id != local)
        self._ended.add(local)
        error = SubscriptionEnded(code, message, local, command.group if command is not None else None,
                                  list(command.patterns) if command is not None else None)
        self.subscriptions_ended.append(error)
        self._ended_to_raise.append(error)
        log.warning("ferry: %s (%d buffered deliveries dropped: they went back to the group)", error,
                    before - len(self._buffer))

    def _on_subscription_ended(self, ended: pb.SubscriptionEnded) -> None:
        server = ended.subscription_id
        local = self._server_to_local.get(server)
        if local is None:
            # Unsubscribed meanwhile, or of a session this client has since resumed: nothing to end.
            log.debug("ferry: broker ended subscription %d, which this session no longer has (%s %s)", server,
                      error_code_name(ended.code), ended.message)
            return
        self._end_subscription(local, ended.code, ended.message, server)

    def _end_all_subscriptions(self, code: int, message: str) -> None:
        for local in sorted(self._subscriptions):
            self._end_subscription(local, code, message, self._local_to_server.get(local))

    def _raise_deferred(self) -> None:
        """Raise what the broker reported while another call ran: a failed renewal after a resume,
        then a subscription it ended."""
        self._raise_resume_error()
        if self._ended_to_raise:
            raise self._ended_to_raise.popleft()

    def _settle_queued(self) -> None:
        now = time.monotonic()
        if self._settle_since is None:
            self._settle_since = now
        # Batch while more deliveries are buffered; flush once the caller has caught up, or
        # after SETTLE_DELAY however full the buffer still is.
        if (len(self._acks) + len(self._nacks) >= SETTLE_BATCH or not self._buffer
                or now - self._settle_since >= SETTLE_DELAY):
            self.flush()
