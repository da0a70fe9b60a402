"""Requests another site could make a browser send are refused, and change nothing: console
forms without this browser's anti-forgery token, API writes from another origin, requests for
another host name (DNS rebinding). Sent with urllib, as a forger would, not through the console."""
from __future__ import annotations

import json

import pytest

from ferry_http import ConsoleForm, DeadLetterSpec, Ferryd, FerryAPI, http

GROUP, MEMBER, TOPIC = "billing", "worker-1", "orders"
EVIL = "http://evil.example"


@pytest.fixture
def letters(api: FerryAPI) -> list[dict]:
    """Two dead letters of GROUP."""
    return api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("OrderCreated", f"order-{n}", {"n": n}, "boom") for n in (1, 2)])


def dead_letter_ids(api: FerryAPI) -> list[int]:
    return [e["id"] for e in api.dead_letters(GROUP)]


@pytest.mark.parametrize("send_token, send_cookie", [(False, False), (False, True), (True, False), ("wrong", True)],
                         ids=["no-token-no-cookie", "no-token", "token-without-cookie", "wrong-token"])
def test_console_action_needs_the_token(ferryd: Ferryd, api: FerryAPI, letters: list[dict], send_token, send_cookie):
    """A purge through the console's form without the right csrf field and cookie: 403, nothing
    purged."""
    form = ConsoleForm(ferryd.url, GROUP)
    token, cookie = form.token_and_cookie()
    fields = [("action", "purge-matching")]
    if send_token:
        fields.append(("csrf", token if send_token is True else "0" * len(token)))
    reply = form.post(fields, {"Cookie": cookie} if send_cookie else {})
    assert reply.status == 403, (reply.status, reply.text)
    assert dead_letter_ids(api) == [e["id"] for e in letters]


def test_console_action_with_the_token_works(ferryd: Ferryd, api: FerryAPI, letters: list[dict]):
    """The control of the test above: the same form with this client's token and cookie (and no
    Origin, as a non-browser client) purges the entry it names and redirects with the outcome."""
    form = ConsoleForm(ferryd.url, GROUP)
    token, cookie = form.token_and_cookie()
    reply = form.post([("csrf", token), ("action", "purge-selected"), ("id", str(letters[0]["id"]))], {"Cookie": cookie})
    assert reply.status == 303, (reply.status, reply.text)
    assert reply.headers["location"].endswith("done=1%20purged")
    assert dead_letter_ids(api) == [letters[1]["id"]]


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1.evil.example"])
def test_api_refuses_writes_from_another_origin(ferryd: Ferryd, api: FerryAPI, letters: list[dict], origin: str):
    """What a page of another origin can send without a CORS preflight (a text/plain POST) is
    refused (403) and changes nothing: a publish, a purge of the dead letters, and a console
    form even with a valid token."""
    before = api.next_offset(TOPIC)
    publish = http("POST", f"{api.api}/topics/{TOPIC}/events", "forged", {"Content-Type": "text/plain", "Origin": origin})
    assert publish.status == 403, (publish.status, publish.text)
    purge = http("POST", f"{api.api}/groups/{GROUP}/dead-letters/purge", json.dumps({"all": True}),
                 {"Content-Type": "text/plain;charset=UTF-8", "Origin": origin})
    assert purge.status == 403, (purge.status, purge.text)
    form = ConsoleForm(ferryd.url, GROUP)
    token, cookie = form.token_and_cookie()
    console = form.post([("csrf", token), ("action", "purge-matching")], {"Cookie": cookie, "Origin": origin})
    assert console.status == 403, (console.status, console.text)
    assert api.next_offset(TOPIC) == before
    assert dead_letter_ids(api) == [e["id"] for e in letters]


def test_api_accepts_same_origin_and_tools(ferryd: Ferryd, api: FerryAPI):
    """The control: the console's own origin, and a tool that sends no Origin, may publish."""
    for headers in ({"Origin": ferryd.url}, {}):
        reply = http("POST", f"{api.api}/topics/{TOPIC}/events", "fine", {"Content-Type": "text/plain", **headers})
        assert reply.status == 201, (headers, reply.status, reply.text)
    assert api.next_offset(TOPIC) == 2


def test_no_cross_origin_reads(api: FerryAPI):
    """No CORS grant: a page of another origin cannot read the API's replies."""
    reply = http("GET", f"{api.api}/topics", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in reply.headers, reply.headers
    preflight = http("OPTIONS", f"{api.api}/topics/{TOPIC}/events",
                     headers={"Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert "access-control-allow-origin" not in preflight.headers, (preflight.status, preflight.headers)


def test_other_host_names_are_refused(ferryd: Ferryd):
    """A loopback listener answers only for loopback names: a DNS-rebinding page (its own name
    resolving to 127.0.0.1) gets 403, for the console and the API."""
    port = ferryd.http_address.rsplit(":", 1)[1]
    for path in ("/console", "/api/v1/topics"):
        reply = http("GET", ferryd.url + path, headers={"Host": f"rebind.evil.example:{port}"})
        assert reply.status == 403, (path, reply.status, reply.text)
        assert http("GET", ferryd.url + path, headers={"Host": f"localhost:{port}"}).status == 200
