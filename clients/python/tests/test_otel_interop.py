"""OpenTelemetry traces across languages through a real ``ferryd``: a trace started by the Swift
SDK continues in the Python client's ``process_span`` and one started in Python continues in the
Swift SDK's handler spans (one per delivery attempt), both through the W3C ``traceparent`` header
of the event.

The Swift side is ``ferry-interop --trace-w3c`` (an in-memory tracer propagating ``traceparent``
that prints its spans as JSON lines); these tests are skipped if it is not built (FERRY_INTEROP,
see test_interop.py). The Python spans go to an in-memory exporter of an SDK ``TracerProvider``
given to the client with ``tracing.set_tracer_provider``, as in test_otel.py.
"""
import json
import subprocess
import time

import pytest

from support import uid, wait_group_settled  # (also puts the client on sys.path)
from test_interop import finish, interop_binary, tail

from ferry_client import make_event, process_span, tracing  # noqa: E402

try:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode
    HAVE_SDK = True
except ImportError:
    HAVE_SDK = False
pytestmark = pytest.mark.skipif(not HAVE_SDK, reason="the OpenTelemetry SDK (opentelemetry-sdk) is not installed")


@pytest.fixture(scope="module")
def otel():
    """An SDK provider exporting to memory, used by the client for this module's tests; yields
    ``(provider, spans)`` where ``spans(name)`` are the finished spans of that name."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_tracer_provider(provider)
    try:
        yield provider, lambda name: [s for s in exporter.get_finished_spans() if s.name == name]
    finally:
        tracing.set_tracer_provider(None)
        provider.shutdown()


def trace_hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def span_hex(span_id: int) -> str:
    return format(span_id, "016x")


def json_lines(stdout: str):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_swift_trace_continues_in_python(endpoint, client, otel):
    tool = interop_binary()
    _, spans = otel
    topic, group, prefix = f"interop.otel.swift2py.{uid()}", f"g-otel-swift2py-{uid()}", f"swo{uid()}"
    event_id = f"{prefix}-0"
    client.subscribe(group, topic)
    proc = subprocess.Popen([tool, "publish", "--endpoint", endpoint, "--topic", topic, "--count", "1",
                             "--prefix", prefix, "--trace-w3c"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        delivery = None
        deadline = time.monotonic() + 15
        while delivery is None and time.monotonic() < deadline:
            delivery = client.receive(timeout=0.5)  # keeps heartbeating while Swift publishes
            if delivery is None and proc.poll() not in (None, 0):
                break
    finally:
        code, stdout, stderr = finish(proc, 10)
    assert code is not None, f"ferry-interop publish did not exit within 10 s; stderr tail:\n{tail(stderr)}"
    assert code == 0, f"ferry-interop publish exited {code}:\n{tail(stderr)}"
    lines = json_lines(stdout)
    root, published, swift_spans = lines[0], lines[1], lines[2:]
    assert published == {"published": 1}, stdout
    trace_id = root["trace_id"]
    assert len(trace_id) == 32 and len(root["span_id"]) == 16, root
    [send] = [s for s in swift_spans if s["kind"] == "producer"]
    assert send["span"] == f"send {topic}" and send["attributes"]["messaging.message.id"] == event_id, send
    assert (send["trace_id"], send["parent_span_id"]) == (trace_id, root["span_id"]), (root, send)
    [root_span] = [s for s in swift_spans if s["span_id"] == root["span_id"]]
    assert root_span["kind"] == "internal" and not root_span["error"], root_span

    assert delivery is not None, f"{event_id} not delivered within 15 s"
    assert delivery.event.id == event_id and delivery.attempt == 1
    assert delivery.event.headers["traceparent"] == f"00-{trace_id}-{send['span_id']}-01"
    with process_span(delivery, group):
        pass
    client.ack(delivery)

    [process] = spans(f"process {topic}")
    assert process.kind == SpanKind.CONSUMER and process.status.status_code == StatusCode.UNSET
    assert trace_hex(process.context.trace_id) == trace_id
    assert span_hex(process.parent.span_id) == send["span_id"] and process.parent.is_remote
    assert [(trace_hex(link.context.trace_id), span_hex(link.context.span_id)) for link in process.links] == [
        (trace_id, send["span_id"])]
    assert process.attributes["messaging.consumer.group.name"] == group
    assert process.attributes["messaging.message.id"] == event_id
    assert process.attributes["ferry.delivery.attempt"] == 1
    stats = wait_group_settled(client, group)
    assert (stats.lag, stats.pending_retries, stats.dead_letters) == (0, 0, 0), stats


def test_python_trace_continues_in_swift_retries(endpoint, client, otel):
    tool = interop_binary()
    provider, spans = otel
    topic, group, event_id = f"interop.otel.py2swift.{uid()}", f"g-otel-py2swift-{uid()}", f"pyo-{uid()}"
    # Published before the Swift worker joins: a new durable group starts at the earliest event
    # (as test_python_publishes_swift_consumes relies on).
    with provider.get_tracer("test").start_as_current_span("order") as parent:
        client.publish([make_event(topic, event_id, b"{}")])
    [send] = spans(f"send {topic}")
    assert send.parent.span_id == parent.get_span_context().span_id
    trace_id, send_id = trace_hex(send.context.trace_id), span_hex(send.context.span_id)

    # The handler fails attempts 1 and 2; the broker retries after the default backoff (~1 s, ~2 s).
    proc = subprocess.Popen([tool, "consume", "--endpoint", endpoint, "--group", group, "--topic", topic,
                             "--count", "1", "--fail-times", "2", "--timeout-seconds", "20", "--trace-w3c"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    code, stdout, stderr = finish(proc, 25)
    assert code is not None, f"ferry-interop consume did not exit within 25 s; stdout {stdout!r}; stderr tail:\n{tail(stderr)}"
    assert code == 0, f"ferry-interop consume exited {code}; stdout {stdout!r}; stderr tail:\n{tail(stderr)}"
    lines = json_lines(stdout)
    handled = [line for line in lines if "span" not in line]
    assert [(line["id"], line["attempt"]) for line in handled] == [(event_id, 3)], stdout

    consumer = [line for line in lines if line.get("kind") == "consumer"]
    assert len(consumer) == 3, stdout
    assert [s["attributes"]["ferry.delivery.attempt"] for s in consumer] == ["1", "2", "3"], consumer
    assert [s["error"] for s in consumer] == [True, True, False], consumer
    for s in consumer:
        assert s["span"] == f"process {topic}", s
        assert (s["trace_id"], s["parent_span_id"], s["links"]) == (trace_id, send_id, [send_id]), s
        assert s["attributes"]["messaging.consumer.group.name"] == group, s
        assert s["attributes"]["messaging.message.id"] == event_id, s
    assert len({s["span_id"] for s in consumer}) == 3, consumer
    stats = wait_group_settled(client, group)
    assert (stats.lag, stats.pending_retries, stats.dead_letters) == (0, 0, 0), stats
