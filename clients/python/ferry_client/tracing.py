"""OpenTelemetry spans for publishing and processing Ferry events (optional).

Active only when the OpenTelemetry API (``opentelemetry-api``) is installed and a real
``TracerProvider`` is in use (the SDK's, set with ``opentelemetry.trace.set_tracer_provider``,
or one given to :func:`set_tracer_provider` here); otherwise every function here is a cheap
no-op and events are published unchanged.

The conventions are those of the Swift SDK, so that traces cross between them:

* The trace context travels in the event's ``headers``, written and read by the globally
  configured propagator (``opentelemetry.propagate``; by default W3C Trace Context and Baggage:
  ``traceparent``, ``tracestate``), so any W3C propagator reads what Python publishes.
* :meth:`FerryClient.publish` starts a ``PRODUCER`` span ``send {topic}`` for each event, a child
  of the current span, ends it when the broker has answered (status ``ERROR`` if the event was
  not stored), and injects its context into that event's headers. An event whose headers carry
  a ``traceparent`` already keeps it (and its ``tracestate``): the caller's context wins.
* :func:`process_span` wraps a handler in a ``CONSUMER`` span ``process {topic}`` whose parent
  is the producer's context from the event's headers, and which links to it::

      from ferry_client import process_span

      for d in client.deliveries():
          try:
              with process_span(d, "email"):
                  handle(d)
          except Exception as error:
              client.nack(d, error=str(error))
          else:
              client.ack(d)

Attributes follow the OpenTelemetry messaging conventions: ``messaging.system`` (``ferry``),
``messaging.operation.type`` (``send`` / ``process``), ``messaging.operation.name``
(``publish`` / ``process``), ``messaging.destination.name`` (the topic),
``messaging.message.id`` (the event id), ``messaging.message.conversation_id`` (the correlation
id, when set), and for processing ``messaging.consumer.group.name`` and
``ferry.delivery.attempt``.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .protocol import commands_pb2, event_pb2

try:
    from opentelemetry import propagate as _propagate, trace as _trace
    from opentelemetry.trace import Link as _Link, SpanKind as _SpanKind, Status as _Status, \
        StatusCode as _StatusCode
except ImportError:  # the API is not installed: everything here does nothing
    _trace = None

#: Whether the OpenTelemetry API could be imported.
AVAILABLE = _trace is not None

#: The instrumentation scope of the spans.
TRACER_NAME = "ferry_client"
MESSAGING_SYSTEM = "ferry"
#: The headers the default (W3C Trace Context) propagator writes.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_provider: Any = None  # set_tracer_provider's; None: the global one
_cached: tuple = (None, None)  # (provider, tracer)


def set_tracer_provider(provider: Any = None) -> None:
    """Make the client use ``provider`` (an OpenTelemetry ``TracerProvider``) instead of the
    global one; ``None`` goes back to the global one. For tests and applications that keep
    their provider out of the global state (which can be set only once per process)."""
    global _provider, _cached
    _provider, _cached = provider, (None, None)


def _tracer(provider: Any = None):
    """The tracer to use, or ``None`` when nothing would be recorded: no OpenTelemetry, or no
    real provider (the global one left unset, or a no-op one)."""
    global _cached
    if _trace is None:
        return None
    provider = provider if provider is not None else _provider if _provider is not None else _trace.get_tracer_provider()
    if isinstance(provider, (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)):
        return None
    cached_provider, tracer = _cached
    if cached_provider is not provider:
        tracer = provider.get_tracer(TRACER_NAME)
        _cached = (provider, tracer)
    return tracer


def enabled(tracer_provider: Any = None) -> bool:
    """Whether spans would be made (OpenTelemetry installed and a real provider in use)."""
    return _tracer(tracer_provider) is not None


def _message_attributes(operation_type: str, operation_name: str, event) -> Dict[str, Any]:
    attributes: Dict[str, Any] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": operation_type,
        "messaging.operation.name": operation_name,
        "messaging.destination.name": event.topic,
        "messaging.message.id": event.id,
    }
    if event.correlation_id:
        attributes["messaging.message.conversation_id"] = event.correlation_id
    return attributes


# -- publishing ---------------------------------------------------------------------------------


class PublishSpans:
    """The ``send`` spans of one ``publish`` call, one per event; ``events`` are the events to
    send: copies of the caller's, with the span contexts in their headers (the caller's events
    are left as they were)."""

    def __init__(self, tracer, events: Sequence["event_pb2.Event"]):
        self.spans: List[Any] = []
        self.events: List["event_pb2.Event"] = []
        for event in events:
            span = tracer.start_span(f"send {event.topic}", kind=_SpanKind.PRODUCER,
                                     attributes=_message_attributes("send", "publish", event))
            if span.get_span_context().is_valid and TRACEPARENT not in event.headers:
                carrier: Dict[str, str] = {}
                _propagate.inject(carrier, context=_trace.set_span_in_context(span))
                if carrier:
                    traced = type(event)()
                    traced.CopyFrom(event)
                    for name, value in carrier.items():
                        traced.headers[name] = value
                    event = traced
            self.spans.append(span)
            self.events.append(event)

    def end(self, error: Optional[BaseException] = None) -> None:
        """End every span: with status ``ERROR`` for the events ``error`` (what ``publish``
        raised, if anything) says were not stored: rejected ones, or not confirmed."""
        rejected: Dict[int, str] = {}
        unconfirmed: set = set()
        if error is not None:
            for rejection in getattr(error, "rejections", None) or []:
                rejected[rejection.index] = f"{rejection.code_name}: {rejection.message}"
            offsets = getattr(error, "offsets", None)
            unconfirmed = {i for i in range(len(self.spans))
                           if i not in rejected and (offsets is None or offsets[i] is None)}
        for index, span in enumerate(self.spans):
            try:
                if index in rejected:
                    span.set_status(_Status(_StatusCode.ERROR, rejected[index]))
                elif index in unconfirmed:
                    span.record_exception(error)
                    span.set_status(_Status(_StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            finally:
                span.end()


def start_publish(events: Sequence["event_pb2.Event"], tracer_provider: Any = None) -> Optional[PublishSpans]:
    """Start the ``send`` spans of a ``publish`` call (see :class:`PublishSpans`); ``None`` when
    not tracing (then the events go out as they are)."""
    tracer = _tracer(tracer_provider)
    if tracer is None or not events:
        return None
    return PublishSpans(tracer, events)


# -- processing ---------------------------------------------------------------------------------


def extract_context(event: "event_pb2.Event"):
    """The OpenTelemetry ``Context`` the producer of ``event`` put in its headers (an empty
    context if there is none, or without OpenTelemetry ``None``)."""
    if _trace is None:
        return None
    return _propagate.extract(dict(event.headers))


@contextlib.contextmanager
def process_span(delivery: "commands_pb2.Delivery", group: str, *, tracer_provider: Any = None) -> Iterator[Any]:
    """Run the ``with`` block in a ``CONSUMER`` span ``process {topic}`` for ``delivery`` (the
    current span inside it, so events published there are its children); yields the span, or
    ``None`` when not tracing.

    Its parent is the producer's span context from the event's headers (``traceparent``), and it
    carries a link to it; an event without one gets a span under the current span. ``group`` is
    the consumer group it is processed for. An exception in the block is recorded on the span,
    whose status is then ``ERROR``, and raised again.
    """
    tracer = _tracer(tracer_provider)
    if tracer is None:
        yield None
        return
    event = delivery.event
    parent = _propagate.extract(dict(event.headers)) if event.headers else None
    producer = _trace.get_current_span(parent).get_span_context() if parent is not None else None
    links = [_Link(producer)] if producer is not None and producer.is_valid else None
    attributes = _message_attributes("process", "process", event)
    attributes["messaging.consumer.group.name"] = group
    attributes["ferry.delivery.attempt"] = delivery.attempt
    with tracer.start_as_current_span(f"process {event.topic}", context=parent if links else None,
                                      kind=_SpanKind.CONSUMER, links=links, attributes=attributes,
                                      record_exception=False, set_status_on_exception=False) as span:
        try:
            yield span
        except Exception as error:
            span.record_exception(error)
            span.set_status(_Status(_StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            raise
