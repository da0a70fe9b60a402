"""Typed events without a broker: dataclass JSON round trips (nested, optional, lists, dates,
enums, decimals), protobuf classes, upcaster chains, and the errors that dead-letter."""
import dataclasses
import datetime
import decimal
import enum
import sys
from typing import Dict, List, Optional

import pytest

import support  # noqa: F401 - puts the client on sys.path

from ferry_client import EventDecodingError, Upcasters, envelope, event, event_type  # noqa: E402
from ferry_client.protocol import commands_pb2 as pb  # noqa: E402


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int
    price: decimal.Decimal


@event("PyTestOrder", version=3, key="order_id")
@dataclasses.dataclass
class Order:
    order_id: str
    lines: List[Line]
    placed_at: datetime.datetime
    size: Size
    due: Optional[datetime.date] = None
    notes: Dict[str, str] = dataclasses.field(default_factory=dict)
    gift: Optional[Line] = None


def test_a_dataclass_event_survives_its_json_round_trip():
    order = Order("o-1", [Line("sku-1", 2, decimal.Decimal("9.95"))], datetime.datetime(2026, 12, 7, 18, 0, 1),
                  Size.LARGE, datetime.date(2026, 12, 24), {"wrap": "yes"}, Line("card", 1, decimal.Decimal("0")))
    wire = envelope(order, correlation_id="saga-1")
    assert (wire.type, wire.schema_version, wire.topic, wire.key) == ("PyTestOrder", 3, "PyTestOrder", "o-1")
    assert wire.correlation_id == "saga-1" and wire.content_type == "application/json"
    assert event_type(Order).decode(wire.payload, wire.schema_version) == order


@pytest.mark.skipif(sys.version_info < (3, 10), reason="X | None needs Python 3.10")
def test_pep_604_optionals_of_nested_dataclasses_decode_as_dataclasses():
    namespace = {}
    exec("import dataclasses\n"
         "@dataclasses.dataclass\nclass Inner:\n    n: int\n"
         "@dataclasses.dataclass\nclass Outer:\n    inner: Inner | None = None\n    many: list[Inner] | None = None\n",
         namespace)
    Outer, Inner = namespace["Outer"], namespace["Inner"]
    Outer.__module__ = __name__
    globals()["Inner"] = Inner
    decoded = event_type(Outer).decode(b'{"inner": {"n": 1}, "many": [{"n": 2}]}')
    assert decoded.inner == Inner(1) and decoded.many == [Inner(2)]


def test_a_protobuf_class_is_an_event_with_its_message_name():
    described = event_type(pb.Heartbeat)
    assert described.type_name == "Heartbeat" and described.version == 1
    assert described.decode(described.encode(pb.Heartbeat())) == pb.Heartbeat()


def test_old_versions_go_through_the_chain_and_what_cannot_decode_says_why():
    upcasters = Upcasters()
    upcasters.register("PyTestOrder", 1, lambda d: {**d, "lines": [], "size": "s"})
    upcasters.register("PyTestOrder", 2, lambda d: {**d, "placed_at": "2026-01-01T00:00:00"})
    old = event_type(Order).decode(b'{"order_id": "o-0"}', 1, upcasters)
    assert old == Order("o-0", [], datetime.datetime(2026, 1, 1), Size.SMALL)
    with pytest.raises(EventDecodingError, match="no upcaster for PyTestOrder from schema version 1 to 2"):
        event_type(Order).decode(b'{"order_id": "o-0"}', 1, Upcasters())
    broken = Upcasters()
    broken.register("PyTestOrder", 2, lambda d: d["missing"].strip())
    with pytest.raises(EventDecodingError, match="cannot decode a PyTestOrder"):
        event_type(Order).decode(b'{"order_id": "o-0"}', 2, broken)
    for payload, reason in ((b"not json", "not JSON"), (b'{"order_id": "x"}', "'lines' is missing"),
                            (b'{"order_id": 5, "lines": [], "placed_at": "2026-01-01", "size": "s"}', "expected str"),
                            (b'{"order_id": "x", "lines": [], "placed_at": "2026-01-01", "size": "huge"}', "huge")):
        with pytest.raises(EventDecodingError, match=reason):
            event_type(Order).decode(payload, 3)
