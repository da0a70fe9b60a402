"""A worker process for the drain test: handles `Slow` events one at a time, each taking
SECONDS, and writes `started ID` / `done ID` lines to the file LOG as it goes.

usage: slow_worker.py ENDPOINT TOPIC GROUP LOG SECONDS
"""
import asyncio
import dataclasses
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from ferry_client import Worker, register_event  # noqa: E402

endpoint, topic, group, log_path, seconds = sys.argv[1:6]


@dataclasses.dataclass
class Slow:
    id: str


register_event(Slow, "Slow", topic=topic)
worker = Worker("slow-worker", endpoint)
worker.group(group, concurrency=1, shutdown_deadline=10.0)


def note(line: str) -> None:
    with open(log_path, "a") as log:
        log.write(line + "\n")


@worker.on(Slow, group=group)
async def handle(event: Slow, context) -> None:
    note(f"started {event.id}")
    await asyncio.sleep(float(seconds))
    note(f"done {event.id}")


if __name__ == "__main__":
    import threading

    threading.Thread(target=lambda: worker.ready.wait() and note("ready"), daemon=True).start()
    worker.run_forever()
