"""The socket side of :class:`FerryClient`: sending without ever blocking for long, receiving and
dispatching ``ServerMessage`` s, and the timers (heartbeats, settle flushes, the broker's silence).

Nothing here runs on its own: the client is single-threaded, so all of this happens inside
whichever of its methods is running.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional, Sequence

import zmq

from .errors import FerryError, RequestTimeout, broker_error
from .protocol import SIGNATURE, commands_pb2 as pb, encode, error_code_name
from .resume import _Voided

log = logging.getLogger("ferry_client")

#: Queued acks and nacks are flushed at the latest this long after the first of them.
SETTLE_DELAY = 0.005


class TransportMixin:
    """Sends, receives and timers of :class:`FerryClient` (one DEALER socket, ``_socket``)."""

    # -- sending -------------------------------------------------------------------------------

    def _note_sent(self) -> None:
        self._last_send = self._last_beat = time.monotonic()
        if self._last_recv is None:
            self._last_recv = self._last_send

    def _send_frames(self, frames: Sequence[bytes], wait: Optional[float], what: str) -> None:
        """Queue ``frames`` in the DEALER. Never blocks for more than ``wait`` seconds (default
        ``peer_timeout``; 0: not at all): if the send queue stays full that long (the broker is
        not reading, e.g. it has been down for long), raise :class:`RequestTimeout`."""
        wait = self.peer_timeout if wait is None else wait
        deadline = time.monotonic() + wait
        while True:
            try:
                self._socket.send_multipart(list(frames), zmq.NOBLOCK)
                break
            except zmq.Again:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._socket.poll(max(1, int(remaining * 1000)), zmq.POLLOUT):
                    raise RequestTimeout(f"ferryd at {self.endpoint} is not taking messages: the send queue to it "
                                         f"stayed full for {wait:g} s (is it down?); {what} not sent") from None
        self._note_sent()

    def _send(self, message: pb.ClientMessage, wait: Optional[float] = None) -> None:
        if self.closed:
            raise FerryError("client is closed")
        self._send_frames(encode(message), wait, message.WhichOneof("command") or "message")

    def _send_request(self, field: str, command, wait: Optional[float] = None) -> int:
        """Send a command that has a reply; return its request id (not registered as pending)."""
        request_id = self._next_request_id
        self._next_request_id += 1
        message = pb.ClientMessage(request_id=request_id)
        getattr(message, field).CopyFrom(command)
        self._send(message, wait)
        return request_id

    def _send_command(self, field: str, command, wait: Optional[float] = None, *, check_mute: bool = True) -> int:
        if check_mute:
            self._check_mute()  # resume first, so the command goes to the new session
        request_id = self._send_request(field, command, wait)
        self._pending.add(request_id)
        return request_id

    def _forget(self, request_id: int) -> None:
        self._pending.discard(request_id)
        self._replies.pop(request_id, None)

    # -- waiting -------------------------------------------------------------------------------

    def _wait_reply(self, request_id: int, expect: str, timeout: Optional[float]):
        deadline = time.monotonic() + (self.peer_timeout if timeout is None else timeout)
        try:
            while request_id not in self._replies:
                if request_id in self._voided:
                    raise _Voided(request_id)
                if time.monotonic() >= deadline:
                    raise RequestTimeout(f"no reply to request {request_id} ({expect}) within the timeout"
                                         + self._silence_hint())
                self._step(deadline)
        finally:
            self._pending.discard(request_id)
        reply = self._replies.pop(request_id)
        kind = reply.WhichOneof("reply")
        if kind == "error":
            raise broker_error(reply.error.code, reply.error.message, request_id)
        if kind != expect:
            raise FerryError(f"request {request_id}: expected {expect}, broker sent {kind}")
        return getattr(reply, expect)

    def _silence_hint(self) -> str:
        """For a timeout: if nothing was ever received from the broker, its likely causes."""
        if self._heard:
            return ""
        if self.curve is not None:
            return (f"; nothing was ever received from {self.endpoint}: is ferryd running there, does it know this "
                    f"client's public key {self.curve.public_key} (its credentials file), and is the server key "
                    f"{self.curve.server_key} its own? A refused CURVE handshake gets no answer at all")
        return (f"; nothing was ever received from {self.endpoint}: is ferryd running there? A ferryd with CURVE "
                "does not answer a client without keys (server_key, client_key_file)")

    def _step(self, deadline: Optional[float]) -> None:
        """Drain the socket and do housekeeping; if nothing was waiting, wait for traffic until
        the next timer (heartbeat, settle flush, peer timeout, ``deadline``) is due."""
        received = self._drain()
        self._housekeeping()
        if received:
            return  # let the caller look at what arrived before blocking
        now = time.monotonic()
        wake = min(self._last_beat + self.heartbeat_interval, deadline if deadline is not None else now + 1.0)
        wake = min(wake, self._next_liveness_check() + 0.001)
        if self._settle_since is not None:
            wake = min(wake, self._settle_since + SETTLE_DELAY)
        timeout_ms = max(0, int((wake - now) * 1000) + 1)
        if self._wake_socket is None:
            if self._socket.poll(timeout_ms):
                self._drain()
        else:
            # Another thread may have work for the one that owns this client (ferry_client.aio).
            ready = dict(self._poller.poll(timeout_ms))
            if self._wake_socket in ready:
                self._take_wakeups()
            if self._socket in ready:
                self._drain()
        self._housekeeping()

    def _take_wakeups(self) -> None:
        while True:
            try:
                self._wake_socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        self._woken = True

    def set_wake_socket(self, socket: Optional[zmq.Socket]) -> None:
        """Have a message on ``socket`` (an ``inproc`` PULL or PAIR socket this client's thread
        owns) end the wait of :meth:`receive`, :meth:`receive_batch` or :meth:`poll` early: how
        another thread gets the attention of the one that owns the client (ZeroMQ sockets are
        not thread-safe). A woken ``receive`` returns ``None``."""
        self._wake_socket = socket
        self._poller = None
        if socket is not None:
            self._poller = zmq.Poller()
            self._poller.register(self._socket, zmq.POLLIN)
            self._poller.register(socket, zmq.POLLIN)

    def _tick(self) -> None:
        """The timers, without blocking, for a caller that has deliveries at hand (``receive``
        with a non-empty buffer): a handler working through a full buffer still heartbeats, has
        its settlements flushed every few ms and notices a restart or a silent broker."""
        now = time.monotonic()
        if (now - self._last_beat >= self.heartbeat_interval or now >= self._next_liveness_check()
                or (self._settle_since is not None and now - self._settle_since >= SETTLE_DELAY)):
            self._drain()  # first: what the broker sent counts before its silence is judged
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

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._settle_since is not None and now - self._settle_since >= SETTLE_DELAY:
            try:
                self._flush(wait=0)  # a full send queue keeps them queued; the silence checks still run
            except RequestTimeout:
                pass
        if now - self._last_beat >= self.heartbeat_interval:
            self._check_mute()
            now = time.monotonic()
            if now - self._last_beat >= self.heartbeat_interval:
                self._send_heartbeat(now)
        self._check_silence(now)
        self._check_resume_hello(now)

    # -- receiving -----------------------------------------------------------------------------

    def _handle(self, frames: List[bytes]) -> None:
        self._last_recv = time.monotonic()
        self._heard = True
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
        self._after_receive(message, kind)  # broker restarts
        request_id = message.request_id
        if kind == "error" and message.error.code == pb.UNAUTHENTICATED and self._subscriptions:
            # The connection's key was revoked (ferryd says so unsolicited, then answers every
            # command so): it removed the session, and every subscription with it.
            self._end_all_subscriptions(message.error.code, message.error.message)
        if kind == "deliver":
            self._accept(message.deliver.deliveries)
        elif kind == "heartbeat":
            self.heartbeats_received += 1
        elif kind == "subscription_ended":
            self._on_subscription_ended(message.subscription_ended)
        elif request_id in self._internal:
            self._internal.pop(request_id)(message)
        elif request_id in self._pending:
            command = self._subscribe_requests.get(request_id)
            if kind == "subscribed" and command is not None:
                self._register(command, message.subscribed)
            self._replies[request_id] = message
        elif request_id in self._voided:
            log.debug("ferry: dropping %s for request %d, sent before the session was resumed", kind, request_id)
        elif kind == "error":
            self.unsolicited_errors.append(message)
            log.warning("ferry: broker error (request %d): %s %s", request_id,
                        error_code_name(message.error.code), message.error.message)
        elif kind == "subscribed":
            # The subscribe timed out and its caller gave up: undo the member the broker made,
            # or it would hold deliveries that nobody here takes.
            log.debug("ferry: unsubscribing late subscription %d (request %d)", message.subscribed.subscription_id,
                      request_id)
            self._send_request("unsubscribe", pb.Unsubscribe(subscription_id=message.subscribed.subscription_id))
        else:
            log.debug("ferry: dropping late %s for request %d", kind, request_id)
