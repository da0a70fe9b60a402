"""Python client for the Ferry event broker (wire protocol FRY/1, see proto/README.md)."""
from .client import FerryClient, make_event
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
from .trace import Trace
from .tracing import process_span

__all__ = [
    "BrokerDead", "BrokerError", "BrokerRestarted", "CurveKeys", "ENV_CLIENT_KEY_FILE", "ENV_SERVER_KEY",
    "FerryClient", "FerryError", "Forbidden", "ItemRejection", "PublishRejected", "RequestTimeout", "SIGNATURE",
    "SubscriptionEnded", "Trace", "Unauthenticated", "commands_pb2", "error_code_name", "event_pb2", "make_event",
    "process_span",
]
