"""The exceptions raised by the Ferry client (all are :class:`FerryError` s)."""
from __future__ import annotations

import collections
from typing import List, Optional

from .protocol import commands_pb2 as pb, error_code_name


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


class Unauthenticated(BrokerError):
    """The broker answered ``Error UNAUTHENTICATED``: this connection's CURVE key is no longer in
    ferryd's credentials file (a reload removed it, or its principal). The broker ended the
    session (its subscriptions end: :meth:`FerryClient.receive` raises a
    :class:`SubscriptionEnded` with this code for each) and answers every further command of
    this connection so (heartbeats and settlements get nothing, so the broker then looks silent).
    New connections with the key are refused at the handshake: a key that is listed is needed.
    ``publish`` reports it per event, as a :class:`PublishRejected` whose rejections have
    ``code_name`` ``"UNAUTHENTICATED"``.
    """


class Forbidden(BrokerError):
    """The broker answered ``Error FORBIDDEN``: the connection's principal has no grant for this
    command, topic or group (or a ``deny`` rule matches it) in ferryd's credentials file. Nothing
    of the refused command was done. ``publish`` reports it per event instead (a
    :class:`PublishRejected` whose rejections have ``code_name`` ``"FORBIDDEN"``; the other events
    of the call are stored).
    """


class SubscriptionEnded(BrokerError):
    """The broker ended one of this client's subscriptions on its own: a reload of its credentials
    file revoked the grant the subscription needed (``code_name`` ``"FORBIDDEN"``, from the
    broker's unsolicited ``SubscriptionEnded``), or the connection's key (``"UNAUTHENTICATED"``:
    the broker ended the whole session and said so with an unsolicited ``Error``, so every
    subscription of the client ends), or subscribing again after a broker restart was refused.

    The client has already forgotten the subscription when this is raised: its buffered
    deliveries are dropped (their unsettled events went back to the group; settling them is
    ignored by the broker), it is not renewed when the session is resumed, and ``unsubscribe``
    of its id does nothing. Raised once per ended subscription, by the next :meth:`receive`
    (or ``deliveries`` iteration); every ended subscription is also recorded in
    ``FerryClient.subscriptions_ended``. Other subscriptions are unaffected: call ``receive``
    again to go on with them.

    ``subscription_id`` is the id :meth:`FerryClient.subscribe` returned; ``group`` and
    ``patterns`` are those of the ended subscription (``None`` if the client did not know it).
    """

    def __init__(self, code: int, message: str, subscription_id: int, group: Optional[str] = None,
                 patterns: Optional[List[str]] = None):
        self.subscription_id = subscription_id
        self.group = group
        self.patterns = patterns
        BrokerError.__init__(self, code, message)
        where = f"subscription {subscription_id}" + (f" (group {group!r})" if group is not None else "")
        self.args = (f"{where} ended by the broker: {self.code_name}: {message}",)


def broker_error(code: int, message: str, request_id: int = 0) -> BrokerError:
    """The :class:`BrokerError` for an ``Error`` the broker sent: :class:`Unauthenticated` or
    :class:`Forbidden` for those codes, a plain :class:`BrokerError` for the others."""
    cls = _ERROR_CLASSES.get(code, BrokerError)
    return cls(code, message, request_id)


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
    """No reply to a command within its timeout, or (with ``auto_resume``) the broker restarted
    before answering a command that is not safe to send twice: its outcome is unknown. Also raised
    when a message could not even be queued: the send queue to the broker stayed full for the
    timeout (``peer_timeout`` for acks and nacks, which then stay queued), i.e. the broker has not
    been reading for long.

    Raised by ``publish``, ``offsets`` holds the offsets confirmed so far (``None`` for the
    events not confirmed; resending those with the same ids is safe). Otherwise ``offsets`` is
    ``None``.
    """

    def __init__(self, message: str, offsets: Optional[List[Optional[int]]] = None):
        super().__init__(message)
        self.offsets = offsets


class BrokerDead(FerryError):
    """Nothing was received from the broker for too long (section 10.1 of the protocol).

    Without ``auto_resume`` (or with a broker that sends no ``broker_id``) this is raised after
    ``peer_timeout_ms`` of silence and the session is void: close this client and create a new
    one (new routing id), then re-subscribe. With ``auto_resume`` it is raised after
    ``resume_timeout`` seconds of silence (at least 3 heartbeat intervals), and the client stays
    usable: calling it again waits for the broker once more and resumes the session if it comes
    back.
    """


class BrokerRestarted(BrokerDead):
    """The broker restarted (its ``broker_id`` changed) and ``auto_resume`` is off: the session's
    subscriptions, delivery ids and pending requests are void. Close this client and create a
    new one, or construct it with ``auto_resume=True``."""


_ERROR_CLASSES = {pb.UNAUTHENTICATED: Unauthenticated, pb.FORBIDDEN: Forbidden}
