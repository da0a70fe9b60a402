"""Starts ferryd and a stand-in OTLP/HTTP collector, runs traced-checkout against them, and
checks the spans the collector received (see test.sh)."""
import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

spans = []
lock = threading.Lock()


class Collector(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with lock:
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}.get("service.name", "")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        spans.append((service, span))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args):
        pass


def attribute(span, name):
    for a in span.attributes:
        if a.key == name:
            value = a.value
            return value.string_value or (str(value.int_value) if value.HasField("int_value") else "")
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ferryd", required=True)
    parser.add_argument("--example", required=True)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    collector = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as work:
        endpoint_file = os.path.join(work, "endpoint")
        ferryd = subprocess.Popen([args.ferryd, "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", endpoint_file,
                                   "--data-dir", os.path.join(work, "data"), "--http-endpoint", "off", "--log-level", "warning",
                                   "--exit-with-parent"])
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(endpoint_file) and time.monotonic() < deadline:
                time.sleep(0.05)
            broker = open(endpoint_file).read().strip()
            run = subprocess.run([args.example, "--broker", broker, "--otlp-endpoint", collector], capture_output=True, text=True,
                                 timeout=60)
            if run.returncode != 0:
                sys.exit(f"traced-checkout exited {run.returncode}:\n{run.stderr}")
            traceparent = next(line.split()[1] for line in run.stdout.splitlines() if line.startswith("traceparent "))
            trace_id = traceparent.split("-")[1]
        finally:
            ferryd.terminate()
            ferryd.wait(timeout=20)
    with lock:
        received = list(spans)
    by_name = {}
    for service, span in received:
        assert service == "traced-checkout", service
        by_name.setdefault(span.name, []).append(span)
    producers = [s for s in by_name.get("send otel.checkouts", []) if s.kind == Span.SPAN_KIND_PRODUCER]
    consumers = sorted((s for s in by_name.get("process otel.checkouts", []) if s.kind == Span.SPAN_KIND_CONSUMER),
                       key=lambda s: attribute(s, "ferry.delivery.attempt"))
    assert len(producers) == 1, f"expected one producer span, got {[s.name for _, s in received]}"
    producer = producers[0]
    assert producer.trace_id.hex() == trace_id, (producer.trace_id.hex(), trace_id)
    assert attribute(producer, "messaging.system") == "ferry"
    assert len(consumers) == 2, f"expected a consumer span per attempt (2), got {len(consumers)}"
    for attempt, span in enumerate(consumers, start=1):
        assert span.trace_id.hex() == trace_id, "a consumer span is not in the publisher's trace"
        assert span.parent_span_id == producer.span_id, "a consumer span is not a child of the producer span"
        assert [link.span_id for link in span.links] == [producer.span_id], "a consumer span does not link to the producer span"
        assert attribute(span, "ferry.delivery.attempt") == str(attempt)
        assert attribute(span, "messaging.consumer.group.name") == "receipts"
    assert consumers[0].status.code == 2 and consumers[1].status.code != 2, "the first attempt's span should be an error"
    print(f"ok: trace {trace_id}: 1 producer span, {len(consumers)} consumer spans (attempt 1 failed), exported over OTLP/HTTP")


if __name__ == "__main__":
    main()
