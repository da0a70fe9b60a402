"""ferryd under a low file-descriptor limit (here 256): topics past what the limit leaves room for
are refused with RESOURCE_EXHAUSTED, each publish gets its reply, new connections are still
served, and ferryd starts again on the same data directory."""
import shutil

from support import Ferryd, require_ferryd, uid

from ferry_client import FerryClient, PublishRejected, make_event  # noqa: E402
from ferry_client.protocol import commands_pb2 as pb  # noqa: E402


def test_many_topics_under_a_low_descriptor_limit_are_refused_clearly_and_ferryd_restarts(tmp_path):
    require_ferryd()
    broker = Ferryd(tmp_path, "--heartbeat-ms", "200", "--fsync", "batch", max_open_files=256)
    broker.start()
    try:
        prefix = f"py.fd.{uid()}"
        client = FerryClient(broker.endpoint, "pytest-fd")
        try:
            # 600 topics in batches: far more than 256 descriptors hold.
            events = [make_event(f"{prefix}.t{n}", f"e{n}") for n in range(600)]
            try:
                client.publish(events, batch_size=200)
                raise AssertionError("600 topics were all accepted under a limit of 256 descriptors")
            except PublishRejected as rejected:
                codes = {r.code for r in rejected.rejections}
                assert codes == {pb.RESOURCE_EXHAUSTED}, codes
                assert "ulimit" in rejected.rejections[0].message or "max_topics" in rejected.rejections[0].message
                accepted = sum(1 for offset in rejected.offsets if offset is not None)
                assert 20 <= accepted < 256, accepted
            stats = client.stats()
            assert len([t for t in stats.topics if t.name.startswith(prefix)]) == accepted
            assert "ferry_events_rejected_total{code=\"RESOURCE_EXHAUSTED\"}" in stats.prometheus_text
            # A new connection is served; existing topics take events.
            other = FerryClient(broker.endpoint, "pytest-fd-other")
            try:
                assert other.hello(timeout=5).protocol_version == 1
                other.publish([make_event(f"{prefix}.t0", "again")])
            finally:
                other.close()
        finally:
            client.close()
        assert "file descriptor limit" in broker.log()
        broker.terminate()
        broker.start()  # same data directory, same limit
        client = FerryClient(broker.endpoint, "pytest-fd-after")
        try:
            assert len([t for t in client.stats().topics if t.name.startswith(prefix)]) == accepted
            client.publish([make_event(f"{prefix}.t1", "after-restart")])
        finally:
            client.close()
    finally:
        broker.stop()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
