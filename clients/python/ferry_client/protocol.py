"""FRY/1 framing: the signature frame and the generated ``ferry.v1`` protobuf modules.

The generated code (``scripts/generate-proto.sh``) imports itself as the top-level package
``ferry.v1``, so the directory holding it is put on ``sys.path`` before importing it.
"""
import os
import sys

_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proto")
if _PROTO_DIR not in sys.path:
    sys.path.insert(0, _PROTO_DIR)

from ferry.v1 import commands_pb2, event_pb2  # noqa: E402

#: Frame 1 of every message: ``F`` ``R`` ``Y`` and protocol version 1.
SIGNATURE = b"FRY\x01"
PROTOCOL_VERSION = 1


def error_code_name(code: int) -> str:
    """The ``ErrorCode`` name for ``code``, or ``UNKNOWN_ERROR_CODE_<n>`` for a newer code."""
    try:
        return commands_pb2.ErrorCode.Name(code)
    except ValueError:
        return f"UNKNOWN_ERROR_CODE_{code}"


def encode(message) -> list:
    """The two frames of a ``ClientMessage``."""
    return [SIGNATURE, message.SerializeToString()]
