"""Python client for the Ferry event broker (wire protocol FRY/1, see proto/README.md)."""
from .client import FerryClient, make_event
from .errors import (
    BrokerDead,
    BrokerError,
    BrokerRestarted,
    FerryError,
    ItemRejection,
    PublishRejected,
    RequestTimeout,
)
from .protocol import SIGNATURE, commands_pb2, error_code_name, event_pb2

__all__ = [
    "BrokerDead", "BrokerError", "BrokerRestarted", "FerryClient", "FerryError", "ItemRejection",
    "PublishRejected", "RequestTimeout", "SIGNATURE", "commands_pb2", "error_code_name", "event_pb2",
    "make_event",
]
