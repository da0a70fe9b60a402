"""The dead-letter browser (/console/groups/GROUP/dead-letters) in a real browser: listing,
filtering, requeue and purge by selection and by filter, the purge confirmation; the requeued
events checked over the API."""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from console_pages import DeadLetterPage, flash, goto
from ferry_http import DeadLetterSpec, FerryAPI

GROUP, MEMBER, TOPIC = "billing", "worker-1", "orders"

SPECS = [DeadLetterSpec("OrderCreated", f"order-{n}", {"order": n, "total": 10 * n}, "mailbox bounced") for n in (1, 2, 3)] + [
    DeadLetterSpec("PaymentFailed", f"payment-{n}", {"payment": n}, "card declined") for n in (1, 2)]


def by_type(entries: list[dict]) -> dict[str, list[dict]]:
    """API dead-letter entries grouped by event type."""
    grouped: dict[str, list[dict]] = {}
    for entry in entries:
        grouped.setdefault(entry["event"]["type"], []).append(entry)
    return grouped


def test_dead_letter_flow(page: Page, api: FerryAPI):
    """Five dead letters of two types: all listed; the filter narrows them by type and by error
    text; requeue one selected, then all matching a filter, each coming back over the API as a
    first attempt of the same event; purge one after dismissing and then accepting the
    confirmation."""
    letters = api.make_dead_letters(GROUP, MEMBER, TOPIC, SPECS)
    orders, payments = by_type(letters)["OrderCreated"], by_type(letters)["PaymentFailed"]
    dlq = DeadLetterPage(page, GROUP).open()

    shown = dlq.entries()
    assert sorted(e.id for e in shown) == sorted(e["id"] for e in letters)
    assert {(e.type, e.key, e.error) for e in shown} == {(s.type, s.key, s.error) for s in SPECS}
    assert dlq.shown().startswith("5 shown")

    # Filter by event type, then by a piece of the error text (case-insensitive).
    dlq.filter(type="PaymentFailed")
    assert "type=PaymentFailed" in page.url
    assert sorted(dlq.ids()) == sorted(e["id"] for e in payments)
    assert page.locator("#filter input[name=type]").input_value() == "PaymentFailed"
    dlq.filter(error="BOUNCED")
    assert sorted(dlq.ids()) == sorted(e["id"] for e in orders)
    assert {e.error for e in dlq.entries()} == {"mailbox bounced"}

    # Requeue one selected entry: it leaves the queue and is delivered again as attempt 1.
    chosen = orders[0]
    dlq.select(chosen["id"])
    dlq.act("Requeue selected")
    assert flash(page) == "1 requeued"
    assert dlq.row(chosen["id"]).count() == 0
    # The page comes back with the filter still applied.
    assert "error=BOUNCED" in page.url
    assert sorted(dlq.ids()) == sorted(e["id"] for e in orders if e is not chosen)
    [again] = api.fetch_count(GROUP, MEMBER, TOPIC, 1)
    assert (again["event"]["id"], again["attempt"]) == (chosen["event"]["id"], 1)
    assert again["event"]["payload"] == chosen["event"]["payload"]
    api.ack(GROUP, MEMBER, [again["delivery_id"]])

    # Requeue all matching a filter: the other two OrderCreated entries.
    dlq.filter(type="OrderCreated")
    assert len(dlq.ids()) == 2
    dlq.act("Requeue all matching")
    assert flash(page) == "2 requeued"
    dlq.open()
    assert sorted(dlq.ids()) == sorted(e["id"] for e in payments)
    redelivered = api.fetch_count(GROUP, MEMBER, TOPIC, 2)
    assert sorted((d["event"]["id"], d["attempt"]) for d in redelivered) == sorted((e["event"]["id"], 1) for e in orders[1:])
    api.ack(GROUP, MEMBER, [d["delivery_id"] for d in redelivered])

    # Purge selected asks first: dismissed, nothing is sent and nothing changes.
    victim, survivor = payments
    dlq.select(victim["id"])
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    dialogs: list[str] = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    url = page.url
    dlq.button("Purge selected").click()
    page.evaluate("1")  # a round trip to the page after the click's handlers ran
    page.remove_listener("dialog", dismiss)
    assert dialogs and "Purge the selected" in dialogs[0], dialogs
    assert posts == [] and page.url == url
    assert dlq.row(victim["id"]).locator("input[type=checkbox]").is_checked()
    assert sorted(e["id"] for e in api.dead_letters(GROUP)) == sorted(e["id"] for e in payments)

    # Accepted: the entry and its event are gone.
    accepted: list[str] = []
    dlq.act("Purge selected", confirmations=accepted)
    assert accepted and "Purge the selected" in accepted[0]
    assert flash(page) == "1 purged"
    assert dlq.ids() == [survivor["id"]]
    assert [e["id"] for e in api.dead_letters(GROUP)] == [survivor["id"]]


def test_filter_by_error_text_with_spaces(page: Page, api: FerryAPI):
    """The filter form sends "card declined" as card+declined (HTML form encoding): it must match
    the entries whose error holds "card declined", and show the words back in the form."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, SPECS)
    dlq = DeadLetterPage(page, GROUP).open()
    dlq.filter(error="card declined")
    assert page.locator("#filter input[name=error]").input_value() == "card declined"
    assert [e.type for e in dlq.entries()] == ["PaymentFailed", "PaymentFailed"], dlq.shown()


def test_filter_by_time(page: Page, api: FerryAPI):
    """Since and Until (ISO 8601, as the placeholder shows) bound when entries were dead-lettered."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, SPECS[:2])
    dlq = DeadLetterPage(page, GROUP).open()
    dlq.filter(since="2000-01-01T00:00:00Z")
    assert len(dlq.ids()) == 2
    dlq.filter(since="2999-01-01T00:00:00Z")
    assert dlq.ids() == [] and dlq.shown().startswith("0 shown")
    dlq.filter(until="2000-01-01T00:00:00Z")
    assert dlq.ids() == []
    dlq.filter(since="2000-01-01T00:00:00Z", until="2999-01-01T00:00:00Z", type="OrderCreated")
    assert len(dlq.ids()) == 2


def test_next_page(page: Page, api: FerryAPI):
    """More than a page (100) of dead letters: the "next page" link shows the rest, and keeps the
    filter."""
    specs = [DeadLetterSpec("OrderCreated", f"order-{n}", {"n": n}, "mailbox bounced") for n in range(105)]
    letters = api.make_dead_letters(GROUP, MEMBER, TOPIC, specs)
    dlq = DeadLetterPage(page, GROUP).open()
    first = dlq.ids()
    assert len(first) == 100
    with page.expect_navigation():
        page.get_by_role("link", name="next page").click()
    assert sorted(first + dlq.ids()) == sorted(e["id"] for e in letters)
    dlq.filter(type="OrderCreated", error="bounced")
    with page.expect_navigation():
        page.get_by_role("link", name="next page").click()
    assert len(dlq.ids()) == 5 and page.locator("#filter input[name=error]").input_value() == "bounced"


def test_entry_without_key_shows_no_key(page: Page, api: FerryAPI):
    """An event published without a key shows no key line (and no link to an empty key history)."""
    [entry] = api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("Keyless", None, {"n": 1}, "no key here")])
    assert entry["event"].get("key") is None
    dlq = DeadLetterPage(page, GROUP).open()
    row = dlq.row(entry["id"])
    assert row.locator('a[href^="/console/history"]').count() == 0, row.inner_html()
    assert "· key" not in row.locator("td:nth-child(3)").inner_text(), row.inner_text()


def test_payload_display_is_stable_json(page: Page, api: FerryAPI):
    """A JSON payload shows as JSON equal to what was published, the same way for equal payloads
    (no key order that changes from entry to entry) and without escaped slashes."""
    payload = {"zeta": 1, "alpha": "https://shop.example/orders/7", "mid": [1, 2], "beta": {"y": 2, "x": 1}}
    letters = api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("Same", f"k{n}", payload, "e") for n in range(4)])
    dlq = DeadLetterPage(page, GROUP).open()
    shown = [dlq.expand(e["id"]) for e in letters]
    for text in shown:
        assert json.loads(text) == payload
        assert "https://shop.example/orders/7" in text, text
    assert len(set(shown)) == 1, "equal payloads shown differently:\n" + "\n".join(shown)


@pytest.mark.allow_console_errors  # a 400 page is logged as a failed load
def test_bad_filter_date_shows_the_page_with_a_message(page: Page, api: FerryAPI):
    """A date the filter cannot read ("yesterday") gives the console page with the problem and
    the form (to correct it), not a bare JSON error."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, SPECS[:1])
    dlq = DeadLetterPage(page, GROUP).open()
    page.locator("#filter input[name=since]").fill("yesterday")
    with page.expect_navigation() as navigation:
        page.locator("#filter button").click()
    response = navigation.value
    assert response.headers.get("content-type", "").startswith("text/html"), (response.status, response.text())
    assert "since" in page.locator("#problem").inner_text()
    assert page.locator("#filter input[name=since]").input_value() == "yesterday"


def test_group_link_redirects_to_dead_letters(page: Page, api: FerryAPI):
    """/console/groups/GROUP goes to the group's dead letters."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, SPECS[:1])
    goto(page, f"/console/groups/{GROUP}")
    assert page.url.endswith(f"/console/groups/{GROUP}/dead-letters")
