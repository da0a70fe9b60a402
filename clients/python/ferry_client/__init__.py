"""Python client for the Ferry event broker (wire protocol FRY/1, see proto/README.md).

- :class:`FerryClient`: the synchronous client (one socket, one thread);
- :class:`AsyncFerryClient` (:mod:`ferry_client.aio`): the same for asyncio;
- typed events (:func:`event`, :func:`register_event`), published with :class:`EventBus` or
  :class:`AsyncEventBus`, evolved with upcasters (:func:`upcaster`);
- :class:`Worker` (:mod:`ferry_client.worker`): handler groups with retries, dead letters,
  batches and a graceful drain.
"""
from .aio import AsyncFerryClient
from .bus import AsyncEventBus, EventBus, PublishReceipt, ScheduledReceipt, envelope
from .client import FerryClient, Scheduled, make_event
from .errors import (
    BrokerDead,
    BrokerError,
    BrokerRestarted,
    FerryError,
    Forbidden,
    ItemRejection,
    PublishRejected,
    RequestTimeout,
    SubscriptionEnded,
    Unauthenticated,
)
from .protocol import SIGNATURE, commands_pb2, error_code_name, event_pb2
from .security import ENV_CLIENT_KEY_FILE, ENV_SERVER_KEY, CurveKeys
from .events import EventDecodingError, EventType, event, event_type, register_event
from .trace import Trace
from .tracing import process_span
from .upcasting import MissingUpcaster, Upcasters, upcaster
from .worker import Batch, BatchContext, DeadLetter, EventContext, GroupOptions, RetryLater, Worker

__all__ = [
    "AsyncEventBus", "AsyncFerryClient", "Batch", "BatchContext", "DeadLetter", "EventBus", "EventContext",
    "EventDecodingError", "EventType", "GroupOptions", "MissingUpcaster", "PublishReceipt", "RetryLater", "Scheduled",
    "ScheduledReceipt", "Upcasters",
    "Worker", "envelope", "event", "event_type", "register_event", "upcaster",
    "BrokerDead", "BrokerError", "BrokerRestarted", "CurveKeys", "ENV_CLIENT_KEY_FILE", "ENV_SERVER_KEY",
    "FerryClient", "FerryError", "Forbidden", "ItemRejection", "PublishRejected", "RequestTimeout", "SIGNATURE",
    "SubscriptionEnded", "Trace", "Unauthenticated", "commands_pb2", "error_code_name", "event_pb2", "make_event",
    "process_span",
]
