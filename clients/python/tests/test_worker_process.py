"""A worker process stopped with SIGTERM (even one started with it blocked) drains: the handler running finishes and its event is
acked; the events it held and had not started go back to the group at once, without an attempt
counted, and another member gets them."""
import signal
import subprocess
import sys

from support import CLIENT_DIR, uid, wait_until  # noqa: F401

from ferry_client import FerryClient, make_event  # noqa: E402

PROGRAM = CLIENT_DIR / "tests" / "programs" / "slow_worker.py"


def test_sigterm_lets_the_running_handler_finish_and_hands_the_rest_back(endpoint, tmp_path):
    topic, group = f"py.worker.drain.{uid()}", f"drain-{uid()}"
    log = tmp_path / "worker.log"
    log.touch()
    output = open(tmp_path / "worker.out", "wb")
    # Started with SIGTERM blocked, as a parent such as Swift's Foundation.Process leaves it (a
    # blocked mask is inherited across exec): the worker unblocks it.
    process = subprocess.Popen([sys.executable, str(PROGRAM), endpoint, topic, group, str(log), "1.0"],
                               stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}))
    try:
        assert wait_until(lambda: "ready" in log.read_text() or process.poll() is not None, 20), "worker not ready"
        assert process.poll() is None, (tmp_path / "worker.out").read_text()
        with FerryClient(endpoint, "drain-publisher") as client:
            client.publish([make_event(topic, f"e{i}", f'{{"id": "e{i}"}}', type="Slow", schema_version=1,
                                       content_type="application/json") for i in range(10)])
        assert wait_until(lambda: "started" in log.read_text(), 10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, (tmp_path / "worker.out").read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output.close()
    lines = log.read_text().split()
    started = [lines[i + 1] for i, word in enumerate(lines) if word == "started"]
    done = [lines[i + 1] for i, word in enumerate(lines) if word == "done"]
    assert started == done and len(started) >= 1, lines  # the running handler finished

    # The rest come to another member of the group at once, as first attempts.
    with FerryClient(endpoint, "drain-second-member") as client:
        client.subscribe(group, [topic])
        received = {}
        wait_until(lambda: (lambda d: d is not None and received.setdefault(d.event.id, d) and False)(
            client.receive(0.2)) or len(received) == 10 - len(done), 10)
        for delivery in received.values():
            client.ack(delivery)
    assert sorted(received) == sorted(set(f"e{i}" for i in range(10)) - set(done))
    assert all(delivery.attempt == 1 for delivery in received.values())
