"""Resuming a session after a broker restart (section 10.3 of the protocol), for :class:`FerryClient`.

Every broker run has a ``broker_id``, sent in ``Welcome`` and in every broker ``Heartbeat``. When it
changes, the broker restarted and everything of the earlier run is void: subscription ids,
delivery ids, pending requests. The client then resumes, as the Swift SDK does:

1. it drops the queued acks/nacks and the buffered deliveries of the earlier run (the broker
   redelivers those events: at-least-once), and counts a new *epoch*;
2. it sends ``Goodbye`` (ending anything the new run holds for this connection), then ``Hello``;
   every ``Deliver`` that arrives before the ``Welcome`` belongs to the ended session and is dropped;
3. it sends every active ``Subscribe`` again and maps the new subscription ids to the ones the user
   holds (deliveries keep the subscription id that ``subscribe`` returned);
4. requests of the earlier run are void: ``publish`` resends its unconfirmed events with the same
   ids (the broker's dedup window, rebuilt from its log, confirms the ones it had stored), read-only
   requests are sent again, the others fail with :class:`RequestTimeout` (outcome unknown).

Delivery ids handed out carry the epoch in their top 16 bits, so an ack of a delivery of an earlier
session (e.g. one the handler was still working on) is recognised and dropped, never sent to the
new one. (ferryd also numbers each session's deliveries from a random point, so such an ack would
name no delivery there and be ignored.)

When ferryd answers again with the *same* broker id after being silent for longer than
``peer_timeout`` (e.g. it was stopped with SIGSTOP), it has kept the session if it read the
heartbeats queued for it before its timers ran, and ended it otherwise (after a SIGSTOP both
happen). Resuming a kept session would fail every delivery in flight as a counted attempt and drop
the acks made meanwhile; not resuming an ended one would leave the client without subscriptions.
A broker that holds no session for a connection says so: it answers that connection's heartbeats
(and, once per heartbeat interval, its other commands) with a ``Heartbeat`` whose ``no_session``
is set (section 10.4). The client resumes when it gets one with the broker id it knows, has
subscriptions, and is not waiting for the ``Welcome`` of a resume (notices before that answer what
it sent before the resume's ``Hello``).

The session is also resumed, with the same broker id, when this client itself sent nothing for
longer than ``peer_timeout`` (a handler that ran too long without calling the client: ferryd has
ended the session) and it has subscriptions to renew; without subscriptions nothing is lost (ferryd
starts a new session on the next message).
"""
from __future__ import annotations

import collections
import functools
import logging
import time
from typing import Callable, Dict, List, Optional, Tuple

import zmq

from .errors import BrokerDead, BrokerError, BrokerRestarted, RequestTimeout, broker_error
from .protocol import commands_pb2 as pb, encode

log = logging.getLogger("ferry_client")

#: ``_resume_hello`` while a resume could not send its messages (it is then run again).
RESUME_NOT_SENT = -1

#: Delivery ids carry the client's epoch (sessions resumed) in their top 16 bits.
EPOCH_SHIFT = 48
EPOCH_MASK = 0xFFFF
DELIVERY_ID_MASK = (1 << EPOCH_SHIFT) - 1
#: ``resume_timeout`` is at least this many heartbeat intervals: a healthy broker may be silent
#: for one interval between its heartbeats.
MIN_RESUME_TIMEOUT_BEATS = 3


class _Voided(Exception):
    """Internal: the request was sent to an earlier broker run and will not be answered."""


class ResumeMixin:
    """The broker-restart side of :class:`FerryClient`: broker-id tracking, silence and the resume.

    Relies on the client's ``_send``, ``_send_request``, ``_socket``, timers and subscription maps.
    """

    def _init_resume(self, auto_resume: bool, resume_timeout: Optional[float]) -> None:
        if resume_timeout is not None and resume_timeout <= 0:
            raise ValueError("resume_timeout must be positive or None")
        self.auto_resume = auto_resume
        self.resume_timeout = resume_timeout
        #: How many times the session was resumed (broker restarts and expired sessions).
        self.resumes = 0
        self._broker_id: Optional[str] = None
        self._epoch = 0
        self._voided: set = set()        # request ids sent before the last resume
        self._internal: Dict[int, Callable[[pb.ServerMessage], None]] = {}  # resume's own requests
        self._resume_hello: Optional[int] = None  # the resume's Hello, until its Welcome
        self._resume_started = 0.0
        self._resume_errors: collections.deque = collections.deque()
        self._silent_since: Optional[float] = None  # set once the broker is silent > peer_timeout
        self._dead_reported: Optional[float] = None  # when BrokerDead was last raised (auto_resume)

    # -- state ---------------------------------------------------------------------------------

    @property
    def broker_id(self) -> Optional[str]:
        """The ``broker_id`` of the broker run this session talks to (``None`` before a Welcome,
        or if the broker sends none)."""
        return self._broker_id

    @property
    def _resumable(self) -> bool:
        """Restarts are handled: ``auto_resume`` and a broker that signals them (a broker id)."""
        return self.auto_resume and bool(self._broker_id)

    @property
    def effective_resume_timeout(self) -> Optional[float]:
        """``resume_timeout``, but at least 3 heartbeat intervals of the ``Welcome``: between its
        heartbeats a healthy broker is silent for up to one interval."""
        if self.resume_timeout is None:
            return None
        return max(self.resume_timeout, MIN_RESUME_TIMEOUT_BEATS * self.heartbeat_interval)

    def _next_liveness_check(self) -> float:
        """When the broker's silence next matters: it counts as silent, or BrokerDead is due."""
        if self._last_recv is None:
            return float("inf")
        if not self._resumable:
            return self._last_recv + self.peer_timeout
        due = float("inf") if self._silent_since is not None else self._last_recv + self.peer_timeout
        resume_timeout = self.effective_resume_timeout
        if resume_timeout is not None:
            due = min(due, max(self._last_recv, self._dead_reported or 0.0) + resume_timeout)
        return due

    def _holds_for_restart(self, code: int) -> bool:
        """A publish answered with this code waits for the broker's restart instead of failing."""
        return code == pb.SHUTTING_DOWN and self._resumable

    # -- delivery ids --------------------------------------------------------------------------

    def _tag(self, delivery: pb.Delivery) -> None:
        delivery.delivery_id = delivery.delivery_id | (self._epoch << EPOCH_SHIFT)

    def _current_settlements(self) -> Tuple[List[int], List[pb.Nack]]:
        """The queued acks and nacks of the current epoch, with the broker's delivery ids."""
        acks = [a & DELIVERY_ID_MASK for a in self._acks if a >> EPOCH_SHIFT == self._epoch]
        nacks = []
        for nack in self._nacks:
            if nack.delivery_id >> EPOCH_SHIFT == self._epoch:
                nacks.append(pb.Nack())
                nacks[-1].CopyFrom(nack)
                nacks[-1].delivery_id &= DELIVERY_ID_MASK
        dropped = len(self._acks) + len(self._nacks) - len(acks) - len(nacks)
        if dropped:
            log.debug("ferry: dropping %d settlements of deliveries from an earlier broker run "
                      "(ferryd redelivers those events)", dropped)
        return acks, nacks

    # -- watching the broker -------------------------------------------------------------------

    def _after_receive(self, message: pb.ServerMessage, kind: str) -> None:
        """Broker-id bookkeeping for one well-formed message: resume the session if it is void."""
        if self._silent_since is not None:
            silent_for = time.monotonic() - self._silent_since
            self._silent_since = None
            log.info("ferry: ferryd at %s is answering again after %.1f s", self.endpoint, silent_for)
        if kind == "welcome" and message.request_id in self._internal:
            return  # the answer to the resume's Hello: the session was just set up again
        new_id = ""
        if kind == "welcome":
            new_id = message.welcome.broker_id
            if self._broker_id is None:
                self._broker_id = new_id or None
                return
        elif kind == "heartbeat":
            new_id = message.heartbeat.broker_id
        if new_id and self._broker_id and new_id != self._broker_id:
            old, self._broker_id = self._broker_id, new_id
            if not self.auto_resume:
                raise BrokerRestarted(f"ferryd at {self.endpoint} restarted (broker id {old} -> {new_id}); "
                                      "this session's subscriptions and delivery ids are void")
            self._resume("ferryd restarted", f"broker id {old} -> {new_id}")
        elif (kind == "heartbeat" and message.heartbeat.no_session and self._broker_id and self._subscriptions
              and self._resume_hello is None):
            if not self.auto_resume:
                raise BrokerDead(f"ferryd at {self.endpoint} ended this session (this client was silent for longer "
                                 "than its peer timeout); its subscriptions and delivery ids are void")
            self._resume("ferryd holds no session for this client (it ended it after a silence longer than "
                         "its peer timeout)", f"broker id {self._broker_id}")

    def _check_silence(self, now: float) -> None:
        """Raise :class:`BrokerDead` after too long a silence; note when the broker falls silent."""
        if self._last_recv is None:
            return
        silence = now - self._last_recv
        if not self._resumable:
            if silence > self.peer_timeout:
                raise BrokerDead(f"nothing received from {self.endpoint} for {silence:.1f} s")
            return
        resume_timeout = self.effective_resume_timeout
        if silence > self.peer_timeout and self._silent_since is None:
            self._silent_since = self._last_recv
            log.warning("ferry: ferryd at %s silent for %.1f s; waiting for it to come back (auto_resume%s)",
                        self.endpoint, silence,
                        "" if resume_timeout is None else f", BrokerDead after {resume_timeout:g} s")
        since = max(self._last_recv, self._dead_reported or 0.0)
        if resume_timeout is not None and now - since > resume_timeout:
            self._dead_reported = now  # raised once per resume_timeout: the client stays usable
            raise BrokerDead(f"nothing received from {self.endpoint} for {silence:.1f} s; the session is "
                             "resumed if ferryd comes back while the client is in use")

    def _check_mute(self) -> None:
        """Resume if this client sent nothing for longer than the broker's peer timeout (it was
        not running: heartbeats held back for a silent broker do not count) and has subscriptions:
        ferryd has then declared it dead and ended its session. Without subscriptions nothing is
        lost: ferryd starts a new session on the next message."""
        if not self._resumable or self._last_recv is None or not self._subscriptions:
            return
        mute = time.monotonic() - self._last_beat
        if mute > self.peer_timeout:
            self._resume(f"this client sent nothing for {mute:.1f} s, so ferryd has ended its session",
                         f"peer timeout {self.peer_timeout:g} s")

    def _check_resume_hello(self, now: float) -> None:
        """The resume's Hello unanswered by a broker that is talking: resume again."""
        if (self._resume_hello is not None and self._silent_since is None
                and now - self._resume_started > self.peer_timeout):
            self._resume("ferryd did not answer the Hello sent on resuming", f"within {self.peer_timeout:g} s")

    def _send_heartbeat(self, now: float) -> None:
        """A Heartbeat, never blocking: while the broker is away a few queue in the DEALER (they
        make a restarted broker answer at once with its new id). Once it has been silent for
        ``peer_timeout``, one more per ``peer_timeout`` at most, so that a long outage does not
        fill the send queue; if that queue is full, skip one."""
        self._last_beat = now
        silent = self._last_recv is not None and now - self._last_recv > self.peer_timeout
        if silent and now - self._last_send < self.peer_timeout:
            return
        try:
            self._socket.send_multipart(encode(pb.ClientMessage(heartbeat=pb.Heartbeat())), zmq.NOBLOCK)
        except zmq.Again:
            log.debug("ferry: heartbeat not queued: the send queue to %s is full", self.endpoint)
            return
        self._note_sent()

    # -- resuming ------------------------------------------------------------------------------

    def _resume(self, reason: str, detail: str) -> None:
        """Void the earlier session and set up a new one on the broker run now answering."""
        now = time.monotonic()
        self._last_send = self._last_beat = now
        self._last_recv = now  # silence counts anew for the new session
        self._epoch = (self._epoch + 1) & EPOCH_MASK
        self.resumes += 1
        dropped = len(self._acks) + len(self._nacks)
        self._acks, self._nacks, self._settle_since = [], [], None
        discarded = len(self._buffer)
        self._buffer.clear()
        self._server_to_local.clear()
        self._local_to_server.clear()
        self._unsubscribed.clear()
        # Replies to these may never come (or come from a session the Goodbye below ends); those
        # already received stand.
        self._voided |= self._pending - self._replies.keys()
        self._pending.clear()
        self._internal.clear()
        self._silent_since = None
        log.warning("ferry: %s; resubscribing %d subscription(s) and resending unconfirmed events (%s; "
                    "endpoint %s; %d buffered deliveries discarded and %d settlements dropped: ferryd "
                    "redelivers those events)", reason, len(self._subscriptions), detail, self.endpoint, discarded,
                    dropped)
        # Goodbye first: whatever this broker run holds for our routing id (a Subscribe queued in
        # the DEALER while it was down, an earlier resume) ends now and is redelivered at once.
        # Sent without waiting: a send queue still full from the outage must not leave the
        # resume half done. If it is, the resume runs again once the Hello is overdue.
        self._resume_started = now
        self._resume_hello = RESUME_NOT_SENT
        try:
            self._send(pb.ClientMessage(goodbye=pb.Goodbye()), wait=0)
            self._resume_hello = self._send_request("hello", pb.Hello(client_name=self.client_name), wait=0)
            self._internal[self._resume_hello] = self._on_resume_welcome
            for local, command in sorted(self._subscriptions.items()):
                request_id = self._send_request("subscribe", command, wait=0)
                self._internal[request_id] = functools.partial(self._on_resubscribed, local)
        except RequestTimeout:
            self._resume_hello = RESUME_NOT_SENT
            self._internal.clear()  # a Welcome to this partial resume must not count as done
            log.warning("ferry: the send queue to %s is full; resuming again in %g s", self.endpoint,
                        self.peer_timeout)

    def _on_resume_welcome(self, message: pb.ServerMessage) -> None:
        self._resume_hello = None
        if message.WhichOneof("reply") == "welcome":
            self.welcome = message.welcome
            self._broker_id = message.welcome.broker_id or self._broker_id
        else:
            log.warning("ferry: Hello after resuming failed: %s", message)

    def _on_resubscribed(self, local: int, message: pb.ServerMessage) -> None:
        kind = message.WhichOneof("reply")
        if kind == "subscribed":
            server = message.subscribed.subscription_id
            if local not in self._subscriptions:  # unsubscribed by the user meanwhile: end it
                self._unsubscribed.add(server)
                request_id = self._send_request("unsubscribe", pb.Unsubscribe(subscription_id=server))
                self._internal[request_id] = lambda _reply: None
                return
            self._server_to_local[server] = local
            self._local_to_server[local] = server
            return
        command = self._subscriptions.get(local)
        group = command.group if command is not None else "?"
        if kind == "error" and message.error.code == pb.SHUTTING_DOWN:
            log.warning("ferry: resubscribing to group %r failed: ferryd is shutting down; "
                        "subscribing again when it is back", group)
            return
        if kind == "error" and message.error.code in (pb.FORBIDDEN, pb.UNAUTHENTICATED) and command is not None:
            # The grant (or key) is gone: the subscription ended, as if the broker had ended it.
            self._end_subscription(local, message.error.code, "subscribing again after a broker restart was "
                                                              f"refused: {message.error.message}")
            return
        error = (broker_error(message.error.code, message.error.message, message.request_id) if kind == "error"
                 else BrokerError(0, f"unexpected {kind}", message.request_id))
        log.error("ferry: subscribing again to group %r after a broker restart failed: %s %s", group,
                  error.code_name, error.message)
        self._resume_errors.append(broker_error(
            error.code, f"subscription {local} (group {group!r}) could not be renewed after a broker restart: "
                        f"{error.message}", message.request_id))

    def _raise_resume_error(self) -> None:
        if self._resume_errors:
            raise self._resume_errors.popleft()
