"""Publishing typed events: ``bus.publish(OrderCreated(...))``, synchronous or with asyncio.

An event object (a registered dataclass or protobuf message, see :mod:`ferry_client.events`)
becomes an envelope with its type name, schema version, topic, key and JSON payload, a fresh
id unless one is given, and the correlation and causation ids of its chain.
"""
from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any, List, Mapping, Optional, Sequence

from .client import FerryClient
from .events import EventType, event_type
from .protocol import commands_pb2, event_pb2


@dataclasses.dataclass(frozen=True)
class PublishReceipt:
    """A confirmed event: stored durably (as the broker's fsync policy says) at ``offset``."""

    event_id: str
    topic: str
    offset: int


@dataclasses.dataclass(frozen=True)
class ScheduledReceipt:
    """An event stored for later: appended to ``topic`` at ``due_us`` (microseconds since 1970);
    ``duplicate`` when its id was scheduled before (``due_us`` is then the first one's). An event
    published at once instead (a time already past) has ``due_us`` 0 and its ``offset``."""

    event_id: str
    topic: str
    due_us: int
    duplicate: bool = False
    offset: Optional[int] = None


def _schedule_options(at: Any, after: Optional[float]) -> Mapping[str, Any]:
    if (at is None) == (after is None):
        raise ValueError("give exactly one of at= and after=")
    return {"at": at} if at is not None else {"after": after}


def envelope(event: Any, *, id: Optional[str] = None, key: Optional[str] = None,
             headers: Optional[Mapping[str, str]] = None, correlation_id: Optional[str] = None,
             causation_id: Optional[str] = None, topic: Optional[str] = None) -> event_pb2.Event:
    """The wire ``Event`` for a typed event object. ``key`` overrides the type's key, ``topic``
    its topic."""
    described: EventType = event_type(event)
    key = key if key is not None else described.key_of(event)
    return event_pb2.Event(
        topic=topic or described.topic, id=id or str(uuid.uuid4()), key=key or "", headers=dict(headers or {}),
        content_type=described.content_type, payload=described.encode(event), type=described.type_name,
        schema_version=described.version, correlation_id=correlation_id or "", causation_id=causation_id or "",
        created_at_us=time.time_ns() // 1000)


class EventBus:
    """Typed publishing over a :class:`FerryClient` (which it does not own)."""

    def __init__(self, client: FerryClient):
        self.client = client

    def publish(self, event: Any, **fields: Any) -> PublishReceipt:
        """Publishes one event (fields as for :func:`envelope`) and waits for its confirmation."""
        return self.publish_many([event], **fields)[0]

    def publish_many(self, events: Sequence[Any], *, timeout: Optional[float] = None, **fields: Any) -> List[PublishReceipt]:
        """Publishes events in order, batched; every one confirmed before this returns."""
        wire = [envelope(event, **fields) for event in events]
        offsets = self.client.publish(wire, timeout=timeout)
        return [PublishReceipt(item.id, item.topic, offset) for item, offset in zip(wire, offsets)]

    def schedule(self, event: Any, *, at: Any = None, after: Optional[float] = None,
                 timeout: Optional[float] = None, **fields: Any) -> ScheduledReceipt:
        """Publishes one event to be appended at ``at`` (UNIX seconds or a ``datetime``) or
        ``after`` seconds (see :meth:`FerryClient.schedule`); cancel it with :meth:`cancel`."""
        wire = envelope(event, **fields)
        result = self.client.schedule([wire], timeout=timeout, **_schedule_options(at, after))[0]
        return ScheduledReceipt(wire.id, wire.topic, result.due_us, result.duplicate, result.offset)

    def cancel(self, topic: str, event_id: str) -> bool:
        """Removes a scheduled event before it is due; False when it was not scheduled (or is due)."""
        return self.client.cancel_scheduled(topic, event_id).outcome == commands_pb2.CANCEL_OUTCOME_CANCELLED


class AsyncEventBus:
    """Typed publishing over an :class:`~ferry_client.aio.AsyncFerryClient`."""

    def __init__(self, client: Any):
        self.client = client

    async def publish(self, event: Any, **fields: Any) -> PublishReceipt:
        return (await self.publish_many([event], **fields))[0]

    async def publish_many(self, events: Sequence[Any], *, timeout: Optional[float] = None,
                           **fields: Any) -> List[PublishReceipt]:
        wire = [envelope(event, **fields) for event in events]
        offsets = await self.client.publish(wire, timeout=timeout)
        return [PublishReceipt(item.id, item.topic, offset) for item, offset in zip(wire, offsets)]

    async def schedule(self, event: Any, *, at: Any = None, after: Optional[float] = None,
                       timeout: Optional[float] = None, **fields: Any) -> ScheduledReceipt:
        """See :meth:`EventBus.schedule`."""
        wire = envelope(event, **fields)
        result = (await self.client.schedule([wire], timeout=timeout, **_schedule_options(at, after)))[0]
        return ScheduledReceipt(wire.id, wire.topic, result.due_us, result.duplicate, result.offset)

    async def cancel(self, topic: str, event_id: str) -> bool:
        """See :meth:`EventBus.cancel`."""
        return (await self.client.cancel_scheduled(topic, event_id)).outcome == commands_pb2.CANCEL_OUTCOME_CANCELLED

