"""OpenTelemetry spans of the Python client (ferry_client.tracing) against a real ``ferryd``: the
producer span's context travels in the event's W3C ``traceparent`` header, and ``process_span``
continues the trace on the consumer side (parent and link), one span per delivery attempt.

The spans go to an in-memory exporter of an SDK ``TracerProvider`` given to the client with
``tracing.set_tracer_provider`` (the global provider can be set only once per process, and other
test modules must not see it)."""
import re
import subprocess
import sys

import pytest

from support import CLIENT_DIR, uid, wait_group_settled  # (also puts the client on sys.path)

from ferry_client import FerryClient, PublishRejected, commands_pb2 as pb, make_event, process_span, tracing  # noqa: E402

try:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    HAVE_SDK = True
except ImportError:
    HAVE_SDK = False
needs_sdk = pytest.mark.skipif(not HAVE_SDK, reason="the OpenTelemetry SDK (opentelemetry-sdk) is not installed")

#: traceparent as the W3C Trace Context spec defines it (version 00).
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-9a-f]$")


@pytest.fixture(scope="module")
def otel():
    """An SDK provider exporting to memory, used by the client for this module's tests."""
    if not HAVE_SDK:
        pytest.skip("the OpenTelemetry SDK (opentelemetry-sdk) is not installed")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_tracer_provider(provider)
    try:
        yield provider, exporter
    finally:
        tracing.set_tracer_provider(None)
        provider.shutdown()


@pytest.fixture
def spans(otel):
    """The exporter, emptied; ``spans.named(name)`` are the finished spans of that name."""
    _, exporter = otel
    exporter.clear()

    class Spans:
        @staticmethod
        def named(name):
            return [s for s in exporter.get_finished_spans() if s.name == name]

    return Spans()


def receive(c: FerryClient, event_id: str, timeout: float = 5.0) -> pb.Delivery:
    delivery = c.receive(timeout=timeout)
    assert delivery is not None, f"{event_id} not delivered within {timeout} s"
    assert delivery.event.id == event_id
    return delivery


@needs_sdk
def test_process_span_continues_the_producers_trace(client, otel, spans):
    provider, _ = otel
    topic, group, event_id, correlation = f"py.otel.{uid()}", f"g-otel-{uid()}", f"o-{uid()}", f"saga-{uid()}"
    client.subscribe(group, topic)
    event = make_event(topic, event_id, b"{}", correlation_id=correlation, headers={"h": "1"})
    with provider.get_tracer("test").start_as_current_span("checkout") as parent:
        client.publish([event])
    assert dict(event.headers) == {"h": "1"}, "the caller's event must not be changed"

    [send] = spans.named(f"send {topic}")
    assert send.kind == SpanKind.PRODUCER and send.status.status_code == StatusCode.UNSET
    assert send.context.trace_id == parent.get_span_context().trace_id
    assert send.parent.span_id == parent.get_span_context().span_id
    assert dict(send.attributes) == {
        "messaging.system": "ferry", "messaging.operation.type": "send", "messaging.operation.name": "publish",
        "messaging.destination.name": topic, "messaging.message.id": event_id,
        "messaging.message.conversation_id": correlation}

    delivery = receive(client, event_id)
    headers = dict(delivery.event.headers)
    match = TRACEPARENT.match(headers.get("traceparent", ""))
    assert match, headers
    assert (int(match[1], 16), int(match[2], 16)) == (send.context.trace_id, send.context.span_id)
    assert headers["h"] == "1"
    # Any W3C propagator reads it (not just the global one the client used).
    remote = otel_trace.get_current_span(TraceContextTextMapPropagator().extract(headers)).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (send.context.trace_id, send.context.span_id, True)

    with process_span(delivery, group) as span:
        assert span is otel_trace.get_current_span() and span.is_recording()
        # An event published while processing is a child of the process span.
        client.publish([make_event(f"{topic}.follow", f"f-{uid()}", causation_id=event_id)])
    client.ack(delivery)

    [process] = spans.named(f"process {topic}")
    assert process.kind == SpanKind.CONSUMER and process.status.status_code == StatusCode.UNSET
    assert process.context.trace_id == parent.get_span_context().trace_id
    assert process.parent.span_id == send.context.span_id and process.parent.is_remote
    assert [(link.context.trace_id, link.context.span_id) for link in process.links] == [
        (send.context.trace_id, send.context.span_id)]
    assert dict(process.attributes) == {
        "messaging.system": "ferry", "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.destination.name": topic, "messaging.message.id": event_id,
        "messaging.message.conversation_id": correlation, "messaging.consumer.group.name": group,
        "ferry.delivery.attempt": 1}
    [follow] = spans.named(f"send {topic}.follow")
    assert follow.parent.span_id == process.context.span_id and follow.context.trace_id == send.context.trace_id
    wait_group_settled(client, group)


@needs_sdk
def test_failing_handler_gives_one_span_per_attempt(client, otel, spans):
    provider, _ = otel
    topic, group, event_id = f"py.otel.retry.{uid()}", f"g-otel-retry-{uid()}", f"flaky-{uid()}"
    client.subscribe(group, topic, retry={"initial_delay_ms": 20, "jitter_permille": 0})
    with provider.get_tracer("test").start_as_current_span("request") as parent:
        client.publish([make_event(topic, event_id)])
    [send] = spans.named(f"send {topic}")

    def handle(delivery):
        if delivery.attempt < 3:
            raise RuntimeError(f"database down (attempt {delivery.attempt})")

    for attempt in (1, 2, 3):
        delivery = receive(client, event_id)
        assert delivery.attempt == attempt
        try:
            with process_span(delivery, group):
                handle(delivery)
        except RuntimeError as error:
            assert attempt < 3
            client.nack(delivery, error=str(error))
        else:
            client.ack(delivery)

    processed = spans.named(f"process {topic}")
    assert [s.attributes["ferry.delivery.attempt"] for s in processed] == [1, 2, 3]
    assert {s.context.trace_id for s in processed} == {parent.get_span_context().trace_id}
    assert all(s.parent.span_id == send.context.span_id for s in processed)
    assert all([link.context.span_id for link in s.links] == [send.context.span_id] for s in processed)
    assert [s.status.status_code for s in processed] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    for attempt, s in enumerate(processed[:2], start=1):
        assert s.status.description == f"RuntimeError: database down (attempt {attempt})"
        [exception] = [e for e in s.events if e.name == "exception"]
        assert exception.attributes["exception.type"] == "RuntimeError"
    assert not [e for e in processed[2].events if e.name == "exception"]
    wait_group_settled(client, group)


@needs_sdk
def test_callers_traceparent_is_kept_and_rejections_are_errors(client, otel, spans):
    topic, group = f"py.otel.keep.{uid()}", f"g-otel-keep-{uid()}"
    client.subscribe(group, topic)
    theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    kept, bare, fine, too_big = (f"{name}-{uid()}" for name in ("kept", "bare", "fine", "too-big"))
    client.publish([make_event(topic, kept, headers={"traceparent": theirs, "tracestate": "vendor=1"})])
    assert len(spans.named(f"send {topic}")) == 1  # still made, but not propagated
    delivery = receive(client, kept)
    assert dict(delivery.event.headers) == {"traceparent": theirs, "tracestate": "vendor=1"}
    with process_span(delivery, group):
        pass
    client.ack(delivery)
    [process] = spans.named(f"process {topic}")
    assert (process.context.trace_id, process.parent.span_id) == (0x0AF7651916CD43DD8448EB211C80319C,
                                                                  0xB7AD6B7169203331)
    assert process.context.trace_state.get("vendor") == "1"

    # An event without a producer context: a span under the current one, without links.
    client.publish([make_event(topic, bare)])
    spans_before = len(spans.named(f"process {topic}"))
    delivery = receive(client, bare)
    delivery.event.headers.clear()
    with otel[0].get_tracer("test").start_as_current_span("poller") as poller:
        with process_span(delivery, group):
            pass
    client.ack(delivery)
    bare = spans.named(f"process {topic}")[spans_before:]
    assert len(bare) == 1 and bare[0].parent.span_id == poller.get_span_context().span_id and not bare[0].links

    limit = client.welcome.max_payload_bytes
    with pytest.raises(PublishRejected):
        client.publish([make_event(topic, fine), make_event(topic, too_big, b"x" * (limit + 1))])
    by_id = {s.attributes["messaging.message.id"]: s for s in spans.named(f"send {topic}")}
    assert by_id[fine].status.status_code == StatusCode.UNSET
    assert by_id[too_big].status.status_code == StatusCode.ERROR
    assert by_id[too_big].status.description.startswith("PAYLOAD_TOO_LARGE")
    client.ack(receive(client, fine))
    wait_group_settled(client, group)


@needs_sdk
def test_nothing_without_a_tracer_provider(client, otel, spans):
    """With no provider set (the global one is a no-op in this process) events go out unchanged
    and process_span yields None."""
    if not isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider):
        pytest.skip("a global TracerProvider is set in this process")
    topic, group = f"py.otel.off.{uid()}", f"g-otel-off-{uid()}"
    client.subscribe(group, topic)
    tracing.set_tracer_provider(None)
    try:
        assert not tracing.enabled()
        plain = f"plain-{uid()}"
        client.publish([make_event(topic, plain, headers={"h": "1"})])
        delivery = receive(client, plain)
        assert dict(delivery.event.headers) == {"h": "1"}
        with process_span(delivery, group) as span:
            assert span is None
        with pytest.raises(ValueError):
            with process_span(delivery, group):
                raise ValueError("still raised")
        client.ack(delivery)
    finally:
        tracing.set_tracer_provider(otel[0])
    assert spans.named(f"send {topic}") == [] and spans.named(f"process {topic}") == []
    wait_group_settled(client, group)


def test_client_works_without_opentelemetry():
    """The client imports and tracing is a no-op when ``opentelemetry`` cannot be imported."""
    script = f"""
import sys
sys.modules["opentelemetry"] = None  # import opentelemetry... raises ImportError
sys.path.insert(0, {str(CLIENT_DIR)!r})
import ferry_client
from ferry_client import commands_pb2 as pb, make_event, process_span, tracing
assert not tracing.AVAILABLE and not tracing.enabled()
assert tracing.start_publish([make_event("t", "e")]) is None
assert tracing.extract_context(make_event("t", "e")) is None
delivery = pb.Delivery(attempt=1)
delivery.event.CopyFrom(make_event("t", "e", headers={{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}))
with process_span(delivery, "g") as span:
    assert span is None
try:
    with process_span(delivery, "g"):
        raise KeyError("x")
except KeyError:
    pass
else:
    raise AssertionError("the exception was swallowed")
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
