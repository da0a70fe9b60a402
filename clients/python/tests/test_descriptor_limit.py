"""ferryd under a low file-descriptor limit (here 256): topics past what the limit leaves room for
are refused with RESOURCE_EXHAUSTED, each publish gets its reply, new connections are still
served, and ferryd starts again on the same data directory."""
import shutil
import time

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


def test_more_topics_than_descriptors_once_idle_ones_give_theirs_up_and_ferryd_restarts_on_them(tmp_path):
    """Topics idle for a second give up their descriptors, so more topics than the limit allows
    open at once come to exist (a publisher retries the refused ones); ferryd restarts on them
    (a recovered topic opens its files only when used) and every one takes events again."""
    require_ferryd()
    broker = Ferryd(tmp_path, "--heartbeat-ms", "200", "--fsync", "batch", max_open_files=256)
    broker.start()
    try:
        prefix = f"py.fdidle.{uid()}"
        topics = [f"{prefix}.t{n}" for n in range(300)]
        client = FerryClient(broker.endpoint, "pytest-fd-idle")
        try:
            missing = list(topics)
            deadline = time.monotonic() + 60
            while missing and time.monotonic() < deadline:
                events = [make_event(topic, f"first-{topic}") for topic in missing]
                try:
                    client.publish(events, batch_size=100)
                    missing = []
                except PublishRejected as rejected:
                    assert {r.code for r in rejected.rejections} == {pb.RESOURCE_EXHAUSTED}
                    missing = [missing[r.index] for r in rejected.rejections]
                    time.sleep(0.2)  # idle topics are parked a second after their last append
            assert not missing, f"{len(missing)} topics never found room"
        finally:
            client.close()
        broker.terminate()
        broker.start()
        client = FerryClient(broker.endpoint, "pytest-fd-idle-after")
        try:
            names = {t.name for t in client.stats().topics}
            assert set(topics) <= names
            # Each old topic takes an event again (retrying those refused while others were busy).
            missing = list(topics)
            deadline = time.monotonic() + 60
            while missing and time.monotonic() < deadline:
                try:
                    client.publish([make_event(topic, f"again-{topic}") for topic in missing], batch_size=100)
                    missing = []
                except PublishRejected as rejected:
                    missing = [missing[r.index] for r in rejected.rejections]
                    time.sleep(0.2)
            assert not missing
        finally:
            client.close()
    finally:
        broker.stop()
