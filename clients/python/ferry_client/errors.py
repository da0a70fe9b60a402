"""The exceptions raised by the Ferry client (all are :class:`FerryError` s)."""
from __future__ import annotations

import collections
from typing import List, Optional

from .protocol import error_code_name


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
