"""A real ferryd for the browser tests, and a small client of its HTTP API (/api/v1) and console
forms, on the standard library only (urllib): no redirects are followed, and an HTTP error is a
reply with its status, not an exception.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, TypeVar

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
FERRYD = os.environ.get("FERRYD") or str(REPO / ".build" / "debug" / "ferryd")
# A rebuild may replace the binary: wait this long for it to reappear.
FERRYD_WAIT = float(os.environ.get("FERRYD_WAIT_SECONDS", "60"))
STARTUP_TIMEOUT = 20.0

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05) -> Optional[T]:
    """Polls ``condition`` until it returns something truthy (returned) or ``timeout`` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Ferryd:
    """One ferryd on ephemeral loopback ports with its data in ``workdir``; HTTP without security,
    so every loopback request acts as the admin identity "local"."""

    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self.log_path = workdir / "ferryd.log"
        self.process: Optional[subprocess.Popen] = None
        self.http_address = ""

    @property
    def url(self) -> str:
        """The HTTP base URL, http://127.0.0.1:PORT."""
        return f"http://{self.http_address}"

    def start(self) -> "Ferryd":
        """Starts ferryd (waiting for its binary if a rebuild is replacing it) and returns once the
        HTTP listener's address is in its endpoint file."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        endpoint_file, http_file = self.workdir / "endpoint", self.workdir / "http"
        command = [FERRYD, "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file),
                   "--data-dir", str(self.workdir / "data"), "--http-endpoint", "127.0.0.1:0",
                   "--http-endpoint-file", str(http_file), "--exit-with-parent", "--log-level", "warning"]
        deadline = time.monotonic() + FERRYD_WAIT
        while True:
            try:
                with open(self.log_path, "ab") as log:
                    self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                break
            except OSError as error:  # missing, or being written (ETXTBSY) during a rebuild
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"cannot start ferryd at {FERRYD} (set FERRYD or build it): {error}") from error
                time.sleep(0.5)

        def ready() -> str:
            if self.process.poll() is not None:
                raise RuntimeError(f"ferryd exited with {self.process.returncode}:\n{self.log()}")
            text = http_file.read_text().strip() if http_file.exists() else ""
            return text if text and endpoint_file.exists() and endpoint_file.read_text().strip() else ""

        address = wait_until(ready, STARTUP_TIMEOUT)
        if not address:
            self.stop()
            raise RuntimeError(f"ferryd did not listen within {STARTUP_TIMEOUT} s:\n{self.log()}")
        self.http_address = address
        return self

    def stop(self) -> None:
        """Kills ferryd (SIGKILL: its data directory is thrown away; test_pages checks that
        SIGTERM works)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self, timeout: float) -> Optional[int]:
        """SIGTERM; the exit status, or None if ferryd is still running after ``timeout`` seconds."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Reply:
    """An HTTP reply: status, headers (names lower-case), body."""
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, body: bytes | str | None = None, headers: Optional[dict[str, str]] = None,
         timeout: float = 40.0) -> Reply:
    """One request; redirects are returned, not followed; an error status is a Reply too."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def quote(segment: str) -> str:
    """A path segment or query value, percent-encoded."""
    return urllib.parse.quote(segment, safe="")


@dataclass
class DeadLetterSpec:
    """An event to publish and then dead-letter with ``error``."""
    type: str
    key: Optional[str]
    payload: Any
    error: str
    event_id: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)
    topic: Optional[str] = None  # default: the topics the consumer follows (a single topic)


class FerryAPI:
    """The JSON API of one ferryd (open mode: no credentials)."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.api = base_url + "/api/v1"

    def request(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None) -> Reply:
        """``path`` under /api/v1; a dict or list body is sent as JSON."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        return http(method, self.api + path, body, headers)

    def ok(self, method: str, path: str, body: Any = None, headers: Optional[dict[str, str]] = None) -> Any:
        """A request that must succeed (2xx); its JSON body."""
        reply = self.request(method, path, body, headers)
        assert 200 <= reply.status < 300, f"{method} {path} -> {reply.status}: {reply.text}"
        return reply.json() if reply.body else None

    def publish(self, topic: str, payload: Any, *, type: Optional[str] = None, key: Optional[str] = None,
                event_id: Optional[str] = None, headers: Optional[dict[str, str]] = None,
                correlation_id: Optional[str] = None, causation_id: Optional[str] = None) -> dict:
        """Publishes one event (a dict/list payload as JSON, str or bytes as text); returns {id, offset, topic}."""
        fields = {}
        if isinstance(payload, (dict, list)):
            body, fields["Content-Type"] = json.dumps(payload).encode(), "application/json"
        else:
            body, fields["Content-Type"] = payload.encode() if isinstance(payload, str) else payload, "text/plain"
        if type is not None:
            fields["Ferry-Type"] = type
        if key is not None:
            fields["Ferry-Key"] = key
        if event_id is not None:
            fields["Ferry-Event-Id"] = event_id
        if correlation_id is not None:
            fields["Ferry-Correlation-Id"] = correlation_id
        if causation_id is not None:
            fields["Ferry-Causation-Id"] = causation_id
        for name, value in (headers or {}).items():
            fields["Ferry-Header-" + name] = value
        reply = http("POST", f"{self.api}/topics/{quote(topic)}/events", body, fields)
        assert reply.status == 201, f"publish to {topic} -> {reply.status}: {reply.text}"
        return reply.json()

    def fetch(self, group: str, member: str, topics: str, *, max: int = 10, wait: int = 5) -> list[dict]:
        """One long-poll fetch (joining the group from its earliest event if it is new)."""
        query = urllib.parse.urlencode({"topics": topics, "max": max, "wait": wait, "start": "earliest"})
        return self.ok("POST", f"/groups/{quote(group)}/members/{quote(member)}/fetch?{query}")["deliveries"]

    def fetch_count(self, group: str, member: str, topics: str, count: int, timeout: float = 15.0) -> list[dict]:
        """Fetches until ``count`` deliveries arrived (fails at the deadline); nothing more is fetched."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{len(got)} of {count} deliveries of {topics} to {group}/{member} in {timeout} s: {got}"
            got += self.fetch(group, member, topics, max=count - len(got), wait=max(1, min(5, int(left))))
        return got

    def nack(self, group: str, member: str, delivery_id: int, *, dead_letter: bool = True, error: str = "") -> None:
        self.ok("POST", f"/groups/{quote(group)}/members/{quote(member)}/deliveries/{delivery_id}/nack",
                {"dead_letter": dead_letter, "error": error})

    def ack(self, group: str, member: str, delivery_ids: Iterable[int]) -> None:
        result = self.ok("POST", f"/groups/{quote(group)}/members/{quote(member)}/ack", {"delivery_ids": list(delivery_ids)})
        assert not result["unknown"], result

    def trace(self, event_id: str) -> dict:
        """The first page of an event's trace (``/api/v1/events/ID/trace``)."""
        return self.ok("GET", f"/events/{quote(event_id)}/trace")

    def wait_for_trace(self, event_id: str, kinds: list[str], timeout: float = 10.0) -> dict:
        """Waits until the trace of ``event_id`` shows ``kinds`` as its first event's steps (ferryd
        writes the trace on its own thread, a moment after the fact); returns the trace."""
        def steps_there() -> Optional[dict]:
            trace = self.trace(event_id)
            events = trace["events"]
            return trace if events and [s["kind"] for s in events[0]["steps"]] == kinds else None

        trace = wait_until(steps_there, timeout)
        assert trace, f"the trace of {event_id} did not reach {kinds}: {self.trace(event_id)}"
        return trace

    def dead_letters(self, group: str, **filters: str) -> list[dict]:
        """The group's dead letters (the first 1000), optionally filtered."""
        query = urllib.parse.urlencode({"limit": 1000, **filters})
        return self.ok("GET", f"/groups/{quote(group)}/dead-letters?{query}")["entries"]

    def groups(self) -> list[dict]:
        return self.ok("GET", "/groups")["groups"]

    def topics(self) -> list[dict]:
        return self.ok("GET", "/topics")["topics"]

    def next_offset(self, topic: str) -> int:
        """The topic's next offset (0 for a topic never written)."""
        return next((t["next_offset"] for t in self.topics() if t["name"] == topic), 0)

    def make_dead_letters(self, group: str, member: str, topics: str, specs: list[DeadLetterSpec]) -> list[dict]:
        """Publishes ``specs`` (to their topic, else to ``topics``), has a failing consumer
        (``member`` of ``group``, following ``topics``) fetch them and nack
        each to the dead-letter queue with its error text; returns the group's dead-letter entries
        (API form, in queue order) once all of them are there."""
        published = {self.publish(s.topic or topics, s.payload, type=s.type, key=s.key, event_id=s.event_id, headers=s.headers)["id"]: s
                     for s in specs}
        known = any(g["name"] == group for g in self.groups())
        expected = (len(self.dead_letters(group)) if known else 0) + len(specs)
        for delivery in self.fetch_count(group, member, topics, len(specs)):
            spec = published[delivery["event"]["id"]]
            self.nack(group, member, delivery["delivery_id"], dead_letter=True, error=spec.error)

        def all_there() -> Optional[list[dict]]:
            entries = self.dead_letters(group)
            return entries if len(entries) == expected else None

        entries = wait_until(all_there, 10.0)
        assert entries, f"expected {expected} dead letters in {group}, have {len(self.dead_letters(group))}"
        return entries

    def wait_for_tail(self, topics: str, timeout: float = 10.0) -> dict:
        """Waits until an ephemeral group follows exactly ``topics`` (a live tail is subscribed)."""
        group = wait_until(lambda: next((g for g in self.groups() if g["ephemeral"] and ",".join(g["patterns"]) == topics), None), timeout)
        assert group, f"no live tail of {topics} within {timeout} s: {self.groups()}"
        return group


class ConsoleForm:
    """The console's dead-letter form as a non-browser client sees it: a cookie jar of its own."""

    def __init__(self, base_url: str, group: str):
        self.base_url, self.group = base_url, group
        self.page_url = f"{base_url}/console/groups/{quote(group)}/dead-letters"
        self.action_url = self.page_url + "/action"

    def token_and_cookie(self) -> tuple[str, str]:
        """Loads the page as a new browser would: the form's csrf token and the ferry_csrf cookie."""
        import re

        reply = http("GET", self.page_url)
        assert reply.status == 200, reply.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', reply.text).group(1)
        cookie = reply.headers.get("set-cookie", "").split(";")[0]
        assert cookie.startswith("ferry_csrf="), reply.headers
        return token, cookie

    def post(self, fields: list[tuple[str, str]], headers: Optional[dict[str, str]] = None) -> Reply:
        body = urllib.parse.urlencode(fields)
        return http("POST", self.action_url, body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
