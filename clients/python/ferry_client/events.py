"""Typed events: Python classes that Ferry publishes and hands to handlers.

Two kinds of class are events, as in the Swift SDK:

- a **dataclass**, registered with :func:`event`; its payload is its JSON (field names as
  written, nested dataclasses, lists, dicts and optionals followed through the type hints);
- a **protobuf message class** generated from a ``.proto`` shared with other languages,
  registered with :func:`register_event`; its payload is the protobuf JSON mapping, which the
  Swift SDK's ``ProtobufEvent`` uses too.

Each registered class has a type name (default: the class's name, or the message's name), a
schema version (default 1), a topic (default: the type name) and optionally an ordering key
(the name of an attribute, or a function of the event). Decoding goes through the upcasters
(:mod:`ferry_client.upcasting`), so a handler sees the current version of an event whatever
version it was published as.

>>> @event(version=2, key="order_id")
... @dataclasses.dataclass
... class OrderCreated:
...     order_id: str
...     total_cents: int
...     currency: str = "EUR"
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import sys
import types
import typing
from typing import Any, Callable, Dict, Optional, Type, TypeVar, Union

from google.protobuf import json_format
from google.protobuf.message import Message

from .upcasting import DEFAULT_UPCASTERS, Upcasters

T = TypeVar("T")
_UnionType = getattr(types, "UnionType", None)  # `X | None` (Python 3.10+)
KeySpec = Union[str, Callable[[Any], Optional[str]], None]

JSON = "application/json"


class EventDecodingError(ValueError):
    """A payload that cannot become the handler's event type: not JSON, missing a required
    field, or of a version no chain of upcasters leads from. Retrying cannot help: the worker
    dead-letters the event with this message."""


@dataclasses.dataclass(frozen=True)
class EventType:
    """What Ferry knows of one event class."""

    cls: type
    type_name: str
    version: int
    topic: str
    key: KeySpec = None
    content_type: str = JSON

    @property
    def is_protobuf(self) -> bool:
        return issubclass(self.cls, Message)

    def key_of(self, event: Any) -> Optional[str]:
        """The event's ordering key, or ``None``."""
        if self.key is None:
            return None
        value = getattr(event, self.key) if isinstance(self.key, str) else self.key(event)
        return None if value is None or value == "" else str(value)

    def encode(self, event: Any) -> bytes:
        """The payload bytes of ``event`` (an instance of :attr:`cls`)."""
        if not isinstance(event, self.cls):
            raise TypeError(f"expected a {self.cls.__name__}, got {type(event).__name__}")
        if self.is_protobuf:
            return json_format.MessageToJson(event, indent=None).encode("utf-8")
        return json.dumps(_to_json(event), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def decode(self, payload: bytes, version: int = 0, upcasters: Optional[Upcasters] = None) -> Any:
        """The event in ``payload``, published as schema ``version`` (0: unknown, taken as the
        current one), upcast to :attr:`version` first. Raises :class:`EventDecodingError`."""
        upcasters = DEFAULT_UPCASTERS if upcasters is None else upcasters
        version = version or self.version
        try:
            if version < self.version:
                document = _load_json(payload)
                document = upcasters.upcast(self.type_name, document, version, self.version)
                payload = json.dumps(document).encode("utf-8")
            if self.is_protobuf:
                message = self.cls()
                # A newer producer may have added fields: read what this version knows.
                json_format.Parse(payload, message, ignore_unknown_fields=True)
                return message
            return _from_json(self.cls, _load_json(payload), self.cls.__name__)
        except EventDecodingError:
            raise
        except Exception as error:  # noqa: BLE001 - whatever a payload or an upcaster raises: it cannot succeed
            raise EventDecodingError(
                f"cannot decode a {self.type_name} (schema version {version}) into {self.cls.__name__}: {error}") from None


_registry: Dict[type, EventType] = {}
_by_name: Dict[str, EventType] = {}


def register_event(cls: Type[T], type_name: Optional[str] = None, *, version: int = 1, topic: Optional[str] = None,
                   key: KeySpec = None, content_type: str = JSON) -> Type[T]:
    """Make ``cls`` (a dataclass or a protobuf message class) an event type; returns it.

    ``key`` is the name of the attribute that holds the ordering key, or a function of the event
    returning it. Registering a class again replaces what was known of it.
    """
    if not (isinstance(cls, type) and (issubclass(cls, Message) or dataclasses.is_dataclass(cls))):
        raise TypeError(f"{cls!r} is neither a dataclass nor a protobuf message class")
    if version < 1:
        raise ValueError(f"a schema version starts at 1; got {version}")
    if type_name is None:
        type_name = cls.DESCRIPTOR.name if issubclass(cls, Message) else cls.__name__
    if not type_name:
        raise ValueError("an event type needs a non-empty type name")
    described = EventType(cls, type_name, version, topic or type_name, key, content_type)
    _registry[cls] = described
    _by_name[type_name] = described
    return cls


def event(type_name: Optional[str] = None, *, version: int = 1, topic: Optional[str] = None,
          key: KeySpec = None) -> Callable[[Type[T]], Type[T]]:
    """Class decorator: :func:`register_event` for a dataclass (put it above ``@dataclass``)."""

    def register(cls: Type[T]) -> Type[T]:
        return register_event(cls, type_name, version=version, topic=topic, key=key)

    return register


def event_type(cls_or_event: Any) -> EventType:
    """The :class:`EventType` of a registered class, or of an instance of one. A dataclass or
    message class that was never registered gets the defaults (registered on first use)."""
    cls = cls_or_event if isinstance(cls_or_event, type) else type(cls_or_event)
    known = _registry.get(cls)
    if known is not None:
        return known
    register_event(cls)
    return _registry[cls]


def event_type_named(type_name: str) -> Optional[EventType]:
    """The registered event type with this type name, if any."""
    return _by_name.get(type_name)


# -- JSON of dataclasses ------------------------------------------------------------------------

def _load_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EventDecodingError(f"the payload is not JSON: {error}") from None


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _to_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, Message):
        return json_format.MessageToDict(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(name): _to_json(item) for name, item in value.items()}
    if isinstance(value, enum.Enum):
        return _to_json(value.value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)  # Decimal, UUID...: their text


def _from_json(hint: Any, value: Any, path: str) -> Any:
    """``value`` (parsed JSON) as the type ``hint``; unknown fields are ignored, missing ones
    take their defaults."""
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return value
    if origin is Union or (_UnionType is not None and isinstance(hint, _UnionType)):
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        if value is None:
            return None
        return _from_json(options[0], value, path) if len(options) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise EventDecodingError(f"{path}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(hint, globalns=vars(sys.modules.get(hint.__module__, sys)))
        arguments = {}
        for field in dataclasses.fields(hint):
            if not field.init:
                continue
            if field.name in value:
                arguments[field.name] = _from_json(hints.get(field.name, Any), value[field.name], f"{path}.{field.name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise EventDecodingError(f"{path}: the required field {field.name!r} is missing")
        return hint(**arguments)
    if isinstance(hint, type) and issubclass(hint, Message):
        message = hint()
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
        return message
    if origin in (list, tuple, set, frozenset):
        if not isinstance(value, list):
            raise EventDecodingError(f"{path}: expected a list, got {type(value).__name__}")
        arguments = typing.get_args(hint)
        item = arguments[0] if arguments else Any
        return origin(_from_json(item, element, f"{path}[{index}]") for index, element in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise EventDecodingError(f"{path}: expected an object, got {type(value).__name__}")
        arguments = typing.get_args(hint)
        item = arguments[1] if len(arguments) == 2 else Any
        return {name: _from_json(item, element, f"{path}.{name}") for name, element in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and hint in (str, int, float, bool) and not isinstance(value, hint):
        raise EventDecodingError(f"{path}: expected {hint.__name__}, got {type(value).__name__}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and issubclass(hint, (datetime.datetime, datetime.date, datetime.time)):
        if not isinstance(value, str):
            raise EventDecodingError(f"{path}: expected an ISO 8601 text, got {type(value).__name__}")
        return hint.fromisoformat(value)
    if isinstance(hint, type) and hint not in (str, int, float, bool) and isinstance(value, str):
        return hint(value)  # Decimal, UUID, ...: from their text
    return value
