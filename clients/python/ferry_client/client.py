"""A small synchronous Ferry client over one ZeroMQ DEALER socket.

The client is single-threaded: heartbeats are sent, replies matched and deliveries buffered
only while one of its methods runs (``receive``, ``publish``, any request, ``poll``). A
consumer whose handler runs longer than ``peer_timeout_ms`` between calls will be declared
dead by the broker; call :meth:`FerryClient.poll` from long handlers or keep handlers short.
"""
from __future__ import annotations

import collections
import logging
import os
import time
from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Union

import zmq

from .protocol import SIGNATURE, commands_pb2 as pb, encode, error_code_name, event_pb2

log = logging.getLogger("ferry_client")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7400"
#: Section 5.2 defaults, used until a Welcome arrives.
DEFAULT_WELCOME = dict(protocol_version=1, heartbeat_interval_ms=1000, peer_timeout_ms=5000,
                       max_payload_bytes=1048576, max_batch=4096)
SETTLE_BATCH = 256

EventLike = Union[event_pb2.Event, Mapping]
DeliveryLike = Union[pb.Delivery, int]


class FerryError(Exception):
    """Base class of every error raised by this client."""


class BrokerError(FerryError):
    """The broker answered with ``Error`` (or a publish item with ``Rejection``).

    ``code`` is the numeric ``ErrorCode``, ``code_name`` its name (e.g. ``"MISSING_FIELD"``),
    ``message`` the broker's human-readable text.
    """

    def __init__(self, code: int, message: str, request_id: int = 0):
        self.code = code
        self.code_name = error_code_name(code)
        self.message = message
        self.request_id = request_id
        super().__init__(f"{self.code_name}: {message}")


#: One rejected publish item: its index in the ``events`` passed to ``publish``.
ItemRejection = collections.namedtuple("ItemRejection", "index event_id code code_name message")


class PublishRejected(BrokerError):
    """Some items of a ``publish`` call were rejected; the others were confirmed.

    ``offsets[i]`` is the offset of event ``i`` or ``None`` if it was rejected;
    ``rejections`` lists the :data:`ItemRejection` s in index order. ``code``/``code_name``/
    ``message`` are those of the first rejection.
    """

    def __init__(self, offsets: List[Optional[int]], rejections: List[ItemRejection]):
        self.offsets = offsets
        self.rejections = rejections
        first = rejections[0]
        BrokerError.__init__(self, first.code, first.message)
        self.args = (f"{len(rejections)} of {len(offsets)} events rejected; first: event #{first.index} "
                     f"(id {first.event_id!r}) {first.code_name}: {first.message}",)


class RequestTimeout(FerryError):
    """No reply to a command within its timeout."""


class BrokerDead(FerryError):
    """Nothing was received from the broker for ``peer_timeout_ms`` (section 10.1).

    The session is void: close this client and create a new one (new routing id), then
    re-subscribe.
    """


def make_event(topic: str, id: str, payload: Union[bytes, str] = b"", **fields) -> event_pb2.Event:
    """Build an ``Event``; a ``str`` payload is encoded as UTF-8. Other fields by keyword."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return event_pb2.Event(topic=topic, id=id, payload=payload, **fields)


def _to_event(event: EventLike) -> event_pb2.Event:
    if isinstance(event, event_pb2.Event):
        return event
    return make_event(**event)


class FerryClient:
    """One Ferry session (one DEALER socket).

    >>> with FerryClient("tcp://127.0.0.1:7400", "my-app") as c:
    ...     c.publish([{"topic": "orders.created", "id": "o-1", "payload": "{}"}])

    Sends ``Hello`` on construction unless ``hello=False``; the ``Welcome`` is in ``welcome``.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, client_name: str = "ferry-python", *,
                 hello: bool = True, context: Optional[zmq.Context] = None, linger_ms: int = 200):
        self.endpoint = endpoint
        self.client_name = client_name
        self.welcome = pb.Welcome(**DEFAULT_WELCOME)
        self.heartbeats_received = 0
        self.unsolicited_errors: collections.deque = collections.deque()
        self.closed = False
        self._socket = (context or zmq.Context.instance()).socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, linger_ms)
        self._socket.setsockopt(zmq.ROUTING_ID, f"{client_name[:200]}-{os.urandom(6).hex()}".encode())
        self._socket.connect(endpoint)
        self._next_request_id = 1
        self._next_sequence = 1
        self._pending: set = set()   # request ids awaiting a reply
        self._replies: dict = {}     # request id -> ServerMessage
        self._buffer: collections.deque = collections.deque()  # received, not yet handed out
        self._unsubscribed: set = set()
        self._acks: List[int] = []
        self._nacks: List[pb.Nack] = []
        self._settle_since: Optional[float] = None
        self._last_send = time.monotonic()
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

    def hello(self, timeout: Optional[float] = None) -> pb.Welcome:
        """Send ``Hello``; store and return the ``Welcome`` (its values are then in effect)."""
        self.welcome = self._request("hello", pb.Hello(client_name=self.client_name), "welcome", timeout)
        return self.welcome

    def close(self) -> None:
        """Flush pending settlements, send ``Goodbye`` and close the socket. Idempotent."""
        if self.closed:
            return
        try:
            self.flush()
            self._send(pb.ClientMessage(goodbye=pb.Goodbye()))
        except zmq.ZMQError as error:  # pragma: no cover - socket already unusable
            log.warning("ferry: goodbye not sent: %s", error)
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
        ``timeout`` bounds the wait for each batch's result (default ``peer_timeout``).
        Raises :class:`PublishRejected` after all results are in if any item was rejected (or
        its whole batch failed with ``Error``); the exception carries the confirmed offsets.
        Resending rejected or timed-out events with the same ``id`` is safe (dedup).
        """
        events = [_to_event(e) for e in events]
        batch_size = max(1, min(batch_size, self.welcome.max_batch or DEFAULT_WELCOME["max_batch"]))
        offsets: List[Optional[int]] = [None] * len(events)
        rejections: List[ItemRejection] = []
        in_flight: "collections.OrderedDict[int, dict]" = collections.OrderedDict()

        def collect(request_id: int, sequences: dict) -> None:
            try:
                result = self._wait_reply(request_id, "publish_result", timeout)
            except BrokerError as error:  # the whole batch failed (e.g. SHUTTING_DOWN)
                for index in sequences.values():
                    rejections.append(ItemRejection(index, events[index].id, error.code, error.code_name,
                                                    error.message))
                return
            if len(result.confirmed) != len(result.offsets):
                raise FerryError(f"PublishResult for request {request_id}: {len(result.confirmed)} "
                                 f"confirmed but {len(result.offsets)} offsets")
            def index_of(sequence: int) -> int:
                if sequence not in sequences:
                    raise FerryError(f"PublishResult for request {request_id}: unexpected sequence {sequence}")
                return sequences.pop(sequence)

            for sequence, offset in zip(result.confirmed, result.offsets):
                offsets[index_of(sequence)] = offset
            for r in result.rejected:
                index = index_of(r.sequence)
                rejections.append(ItemRejection(index, events[index].id, r.code, error_code_name(r.code),
                                                r.message))
            if sequences:
                raise FerryError(f"PublishResult for request {request_id} lacks sequences {sorted(sequences)}")

        try:
            for start in range(0, len(events), batch_size):
                batch, sequences = pb.Publish(), {}
                for index in range(start, min(start + batch_size, len(events))):
                    item = batch.items.add(sequence=self._next_sequence)
                    item.event.CopyFrom(events[index])
                    sequences[self._next_sequence] = index
                    self._next_sequence += 1
                in_flight[self._send_command("publish", batch)] = sequences
                while len(in_flight) >= window:
                    collect(*in_flight.popitem(last=False))
            while in_flight:
                collect(*in_flight.popitem(last=False))
        finally:
            self._pending.difference_update(in_flight)
        if rejections:
            raise PublishRejected(offsets, sorted(rejections))
        return offsets  # type: ignore[return-value]

    # -- consuming ----------------------------------------------------------------------------

    def subscribe(self, group: str, patterns: Union[str, Sequence[str]], *, max_in_flight: int = 0,
                  retry: Union[pb.RetryPolicy, Mapping, None] = None, start: int = pb.START_EARLIEST,
                  member_name: str = "", timeout: Optional[float] = None) -> pb.Subscribed:
        """Join consumer ``group`` with topic ``patterns``; return ``Subscribed``.

        ``max_in_flight`` is the credit (0 = broker default); ``retry`` (a ``RetryPolicy`` or a
        dict of its fields) and ``start`` only apply if this call creates the group.
        """
        command = pb.Subscribe(group=group, patterns=[patterns] if isinstance(patterns, str) else patterns,
                               max_in_flight=max_in_flight, start=start, member_name=member_name)
        if retry is not None:
            command.retry.CopyFrom(retry if isinstance(retry, pb.RetryPolicy) else pb.RetryPolicy(**retry))
        return self._request("subscribe", command, "subscribed", timeout)

    def unsubscribe(self, subscription_id: int, timeout: Optional[float] = None) -> None:
        """Remove one subscription; deliveries still arriving for it are discarded."""
        self._request("unsubscribe", pb.Unsubscribe(subscription_id=subscription_id), "unsubscribed", timeout)
        self._unsubscribed.add(subscription_id)
        self._buffer = collections.deque(d for d in self._buffer if d.subscription_id != subscription_id)

    def receive(self, timeout: Optional[float] = None) -> Optional[pb.Delivery]:
        """Return the next ``Delivery`` (with ``event``, ``attempt``, ``delivery_id``...), or
        ``None`` after ``timeout`` seconds (``None`` = wait forever). Every delivery must be
        settled with :meth:`ack` or :meth:`nack` before the group's ack timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer:
            self._step(deadline)
            if not self._buffer and deadline is not None and time.monotonic() >= deadline:
                return None
        return self._buffer.popleft()

    def deliveries(self, idle_timeout: Optional[float] = None) -> Iterator[pb.Delivery]:
        """Yield deliveries as they arrive; stop after ``idle_timeout`` seconds without one."""
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
             dead_letter: bool = False) -> None:
        """Report a failed delivery: retried after ``delay_ms`` (or the group's backoff), or
        dead-lettered at once if ``dead_letter``. ``error`` is kept as the event's last error."""
        nack = pb.Nack(delivery_id=delivery if isinstance(delivery, int) else delivery.delivery_id,
                       dead_letter=dead_letter, error=error)
        if delay_ms is not None:
            nack.delay_ms = delay_ms
        self._nacks.append(nack)
        self._settle_queued()

    def flush(self) -> None:
        """Send queued acks and nacks now (one ``Settle``)."""
        if self._acks or self._nacks:
            self._send(pb.ClientMessage(settle=pb.Settle(acks=self._acks, nacks=self._nacks)))
            self._acks, self._nacks, self._settle_since = [], [], None

    def poll(self, timeout: float = 0.0) -> None:
        """Process traffic (heartbeats, replies, deliveries into the buffer) for ``timeout`` s."""
        deadline = time.monotonic() + timeout
        self._step(deadline)
        while time.monotonic() < deadline:
            self._step(deadline)

    # -- dead letters and stats ----------------------------------------------------------------

    def dlq_list(self, group: str, after_id: int = 0, limit: int = 0,
                 timeout: Optional[float] = None) -> pb.DeadLetterEntries:
        """List a group's dead letters with ``id > after_id`` (``entries``, ``total``)."""
        return self._request("dead_letter_list", pb.DeadLetterList(group=group, after_id=after_id, limit=limit),
                             "dead_letter_entries", timeout)

    def dlq_requeue(self, group: str, ids: Sequence[int] = (), all: bool = False,
                    timeout: Optional[float] = None) -> int:
        """Requeue dead letters (by id, or ``all``) for redelivery from attempt 1; return the count."""
        return self._request("dead_letter_requeue", pb.DeadLetterRequeue(group=group, ids=ids, all=all),
                             "dead_letter_count", timeout).count

    def dlq_purge(self, group: str, ids: Sequence[int] = (), all: bool = False,
                  timeout: Optional[float] = None) -> int:
        """Delete dead letters (by id, or ``all``) and their events; return the count."""
        return self._request("dead_letter_purge", pb.DeadLetterPurge(group=group, ids=ids, all=all),
                             "dead_letter_count", timeout).count

    def stats(self, timeout: Optional[float] = None) -> pb.Stats:
        """Return the broker's ``Stats`` (groups, topics, stored bytes, connections, metrics)."""
        return self._request("stats", pb.StatsRequest(), "stats", timeout)

    # -- diagnostics ---------------------------------------------------------------------------

    def send_raw(self, frames: Sequence[bytes]) -> None:
        """Send arbitrary frames (for protocol tests); replies to them land in the usual places."""
        self._socket.send_multipart(list(frames))
        self._note_sent()

    def next_unsolicited_error(self, timeout: float) -> Optional[pb.ServerMessage]:
        """Wait up to ``timeout`` s for a ``ServerMessage`` carrying an ``Error`` that answers no
        pending request (normally ``request_id`` 0: a message the broker could not decode)."""
        deadline = time.monotonic() + timeout
        while not self.unsolicited_errors and time.monotonic() < deadline:
            self._step(deadline)
        return self.unsolicited_errors.popleft() if self.unsolicited_errors else None

    # -- internals -----------------------------------------------------------------------------

    def _note_sent(self) -> None:
        self._last_send = time.monotonic()
        if self._last_recv is None:
            self._last_recv = self._last_send

    def _send(self, message: pb.ClientMessage) -> None:
        if self.closed:
            raise FerryError("client is closed")
        self._socket.send_multipart(encode(message))
        self._note_sent()

    def _send_command(self, field: str, command) -> int:
        request_id = self._next_request_id
        self._next_request_id += 1
        message = pb.ClientMessage(request_id=request_id)
        getattr(message, field).CopyFrom(command)
        self._pending.add(request_id)
        self._send(message)
        return request_id

    def _request(self, field: str, command, expect: str, timeout: Optional[float]):
        return self._wait_reply(self._send_command(field, command), expect, timeout)

    def _wait_reply(self, request_id: int, expect: str, timeout: Optional[float]):
        deadline = time.monotonic() + (self.peer_timeout if timeout is None else timeout)
        try:
            while request_id not in self._replies:
                if time.monotonic() >= deadline:
                    raise RequestTimeout(f"no reply to request {request_id} ({expect}) within the timeout")
                self._step(deadline)
        finally:
            self._pending.discard(request_id)
        reply = self._replies.pop(request_id)
        kind = reply.WhichOneof("reply")
        if kind == "error":
            raise BrokerError(reply.error.code, reply.error.message, request_id)
        if kind != expect:
            raise FerryError(f"request {request_id}: expected {expect}, broker sent {kind}")
        return getattr(reply, expect)

    def _step(self, deadline: Optional[float]) -> None:
        """Drain the socket and do housekeeping; if nothing was waiting, wait for traffic until
        the next timer (heartbeat, settle flush, peer timeout, ``deadline``) is due."""
        received = self._drain()
        self._housekeeping()
        if received:
            return  # let the caller look at what arrived before blocking
        now = time.monotonic()
        wake = min(self._last_send + self.heartbeat_interval, deadline if deadline is not None else now + 1.0)
        if self._last_recv is not None:
            wake = min(wake, self._last_recv + self.peer_timeout + 0.001)
        if self._settle_since is not None:
            wake = min(wake, self._settle_since + 0.005)
        if self._socket.poll(max(0, int((wake - now) * 1000) + 1)):
            self._drain()
        self._housekeeping()

    def _drain(self) -> int:
        count = 0
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return count
            self._handle(frames)
            count += 1

    def _handle(self, frames: List[bytes]) -> None:
        self._last_recv = time.monotonic()
        if len(frames) != 2 or frames[0] != SIGNATURE:
            log.warning("ferry: discarding message with %d frames, signature %r", len(frames), frames[0][:8])
            return
        message = pb.ServerMessage()
        try:
            message.ParseFromString(frames[1])
        except Exception as error:  # google.protobuf.message.DecodeError
            log.warning("ferry: discarding undecodable ServerMessage: %s", error)
            return
        kind = message.WhichOneof("reply")
        if kind is None:
            return  # a reply type newer than this client
        if kind == "deliver":
            self._buffer.extend(d for d in message.deliver.deliveries if d.subscription_id not in self._unsubscribed)
        elif kind == "heartbeat":
            self.heartbeats_received += 1
        elif message.request_id in self._pending:
            self._replies[message.request_id] = message
        elif kind == "error":
            self.unsolicited_errors.append(message)
            log.warning("ferry: broker error (request %d): %s %s", message.request_id,
                        error_code_name(message.error.code), message.error.message)
        else:
            log.debug("ferry: dropping late %s for request %d", kind, message.request_id)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._settle_since is not None and now - self._settle_since >= 0.005:
            self.flush()
        if now - self._last_send >= self.heartbeat_interval:
            self._send(pb.ClientMessage(heartbeat=pb.Heartbeat()))
        if self._last_recv is not None and now - self._last_recv > self.peer_timeout:
            raise BrokerDead(f"nothing received from {self.endpoint} for {now - self._last_recv:.1f} s")

    def _settle_queued(self) -> None:
        if self._settle_since is None:
            self._settle_since = time.monotonic()
        # Batch while more deliveries are buffered; flush once the caller has caught up.
        if len(self._acks) + len(self._nacks) >= SETTLE_BATCH or not self._buffer:
            self.flush()
