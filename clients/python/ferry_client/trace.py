"""The recorded life of events, as :meth:`FerryClient.trace` returns it (section 5.13).

ferryd keeps a trace log (``--trace all|failures|FRACTION|off``): for each event, when it was
published and by whom, then every delivery, ack, nack, retry, dead letter, requeue and replay.
A ``TraceRequest`` reads back the events an id, a key or a correlation id names, together with
the events they caused (their ``causation_id``), recursively, in publish order.

The broker writes its trace on a thread of its own, shortly after the fact: a trace read right
after an ack may not show that ack yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from .protocol import commands_pb2 as pb

TracedEvent = pb.TracedEvent


@dataclass
class Trace:
    """The events of a trace (``TracedEvent`` messages: ``id``, ``topic``, ``offset``, ``key``,
    ``correlation_id``, ``causation_id``, ``publisher``, ``published_at_us``, and ``steps``, each a
    ``TraceStep`` with ``kind``, ``at_us``, ``group``, ``actor``, ``attempt``, ``detail``...),
    in publish order: a cause always comes before what it caused.

    ``sampling`` is how the broker samples (``"all"``, ``"failures"``, ``"fraction:0.1"``,
    ``"off"``): with anything but ``"all"`` events or steps may be missing. ``truncated``: more
    events matched than were fetched (``max_events``).
    """

    events: List[TracedEvent] = field(default_factory=list)
    sampling: str = ""
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    def event(self, event_id: str) -> Optional[TracedEvent]:
        """The first event of the trace with id ``event_id``, or ``None``."""
        return next((e for e in self.events if e.id == event_id), None)

    def roots(self) -> List[TracedEvent]:
        """The events no other event of this trace caused, in publish order."""
        ids = {e.id for e in self.events}
        return [e for e in self.events if not e.causation_id or e.causation_id not in ids]

    def children(self, event: TracedEvent) -> List[TracedEvent]:
        """The events ``event`` caused (whose ``causation_id`` is its id), in publish order."""
        if not event.id:
            return []
        return [e for e in self.events
                if e.causation_id == event.id and (e.topic, e.offset) != (event.topic, event.offset)]


def step_kinds(event: TracedEvent) -> List[str]:
    """The names of an event's step kinds in order, e.g. ``["DELIVERED", "ACKED"]`` (a kind this
    client does not know yet is named ``"UNKNOWN_<n>"``)."""
    return [step_kind_name(step.kind) for step in event.steps]


def step_kind_name(kind: int) -> str:
    """The ``TraceStepKind`` name of ``kind`` (``"UNKNOWN_<n>"`` for a newer kind)."""
    try:
        return pb.TraceStepKind.Name(kind)
    except ValueError:
        return f"UNKNOWN_{kind}"
