"""The console's pages in a real browser: navigation, overview, topics, groups, live tail, key
history."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from console_pages import DeadLetterPage, goto, heading
from ferry_http import DeadLetterSpec, Ferryd, FerryAPI, wait_until

GROUP, MEMBER, TOPIC = "billing", "worker-1", "orders"

NAV = {"Overview": ("/console", "Overview"), "Topics": ("/console/topics", "Topics"),
       "Consumer groups": ("/console/groups", "Consumer groups"), "Live tail": ("/console/tail", "Live tail"),
       "Key history": ("/console/history", "Key history"), "Event trace": ("/console/trace", "Event trace")}


def test_navigation(page: Page, api: FerryAPI):
    """Every link of the header opens its page (200, its heading, marked as the current one)."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("OrderCreated", "order-1", {"n": 1}, "boom")])
    goto(page, "/console")
    links = page.locator("header a")
    assert links.all_inner_texts() == list(NAV)
    for name, (path, title) in NAV.items():
        with page.expect_navigation() as navigation:
            page.locator("header").get_by_role("link", name=name, exact=True).click()
        assert navigation.value.status == 200, (name, navigation.value.status)
        assert page.url.endswith(path) and heading(page) == title
        expect(page.locator("header a.here")).to_have_text(name)
        assert page.title() == f"{title} · ferryd"
    expect(page.locator("header .who")).to_contain_text("local")


def test_overview(page: Page, api: FerryAPI):
    """Cards with the broker's figures (the rates filled in by the page's script), the durable
    groups with their dead letters, links to each group's dead letters."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("OrderCreated", f"order-{n}", {"n": n}, "boom") for n in (1, 2)])
    api.publish("payments", {"n": 1}, type="PaymentTaken")
    api.fetch_count("email", "mailer-1", "orders", 2)  # a second group, with two in flight
    goto(page, "/console")
    expect(page.locator("#dead-letters")).to_have_text("2")
    expect(page.locator("#storage")).to_have_text("healthy")
    # The page measures rates from two samples of the API, two seconds apart.
    expect(page.locator("#publish-rate")).to_have_text(re.compile(r"^\d+$"), timeout=8000)
    expect(page.locator("#delivery-rate")).to_have_text(re.compile(r"^\d+$"))
    assert int(page.locator("#stored").inner_text()) > 0
    rows = page.locator("main table tr").all_inner_texts()[1:]
    assert [r.split("\t")[0] for r in rows] == ["billing", "email"], rows
    # The group's name and its dead-letter count both lead to its dead letters.
    for link in ("billing", "2"):
        goto(page, "/console")
        with page.expect_navigation():
            page.locator("main table").get_by_role("link", name=link, exact=True).first.click()
        assert heading(page) == f"Dead letters of {GROUP}" and len(DeadLetterPage(page, GROUP).ids()) == 2


def test_topics(page: Page, api: FerryAPI):
    """Each topic with its event count and offsets, in name order."""
    for n in range(3):
        api.publish("orders", {"n": n}, type="OrderCreated")
    api.publish("audit", "x", type="Seen")
    goto(page, "/console/topics")
    rows = [r.split("\t") for r in page.locator("main table tr").all_inner_texts()[1:]]
    assert rows == [["audit", "1", "0", "1"], ["orders", "3", "0", "3"]], rows


def test_groups(page: Page, api: FerryAPI):
    """Each group with what it follows and its counters; its dead-letter link works."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("OrderCreated", f"order-{n}", {"n": n}, "boom") for n in (1, 2)])
    goto(page, "/console/groups")
    row = page.locator(f"#group-{GROUP} td").all_inner_texts()
    headers = page.locator("main table tr").first.locator("th").all_inner_texts()
    figures = dict(zip(headers, row))
    assert figures["Group"] == GROUP and figures["Follows"] == TOPIC, figures
    counters = ("Members", "Lag", "In flight", "Dead letters", "Delivered", "Nacked", "Dead-lettered")
    assert [figures[c] for c in counters] == ["1", "0", "0", "2", "2", "2", "2"], figures
    with page.expect_navigation():
        page.locator(f"#group-{GROUP}").get_by_role("link", name="2", exact=True).click()
    assert heading(page) == f"Dead letters of {GROUP}"


def test_live_tail(page: Page, api: FerryAPI):
    """The form starts following a topic; an event published over the API then appears as the
    newest row within seconds."""
    goto(page, "/console/tail")
    page.locator("main form input[name=topics]").fill(TOPIC)
    with page.expect_navigation():
        page.get_by_role("button", name="Follow").click()
    assert page.url.endswith(f"/console/tail?topics={TOPIC}")
    api.wait_for_tail(TOPIC)
    for n in (1, 2):
        api.publish(TOPIC, {"order": n}, type="OrderCreated", key=f"order-{n}")
    newest = page.locator("#tail tr").nth(1)
    expect(newest.locator("td").nth(3)).to_have_text("order-2", timeout=10_000)
    expect(page.locator("#tail tr")).to_have_count(3)
    cells = newest.locator("td").all_inner_texts()
    assert cells[:4] == [TOPIC, "1", "OrderCreated", "order-2"] and json.loads(cells[4]) == {"order": 2}, cells


def test_live_tail_ends_when_the_page_closes(page: Page, api: FerryAPI):
    """The tail page says its ephemeral group "goes when this page closes": once the page is
    closed the group is gone within 15 s, even on a topic where nothing is published."""
    goto(page, f"/console/tail?topics={TOPIC}")
    api.wait_for_tail(TOPIC)
    page.close()
    gone = wait_until(lambda: not any(g["ephemeral"] for g in api.groups()), 15.0, 0.25)
    assert gone, f"the closed tail's group is still there: {[g for g in api.groups() if g['ephemeral']]}"


@pytest.mark.allow_console_errors  # the tail's stream breaks when ferryd stops
def test_ferryd_stops_with_a_tail_open(page: Page, api: FerryAPI, ferryd: Ferryd):
    """SIGTERM stops ferryd within 10 s while a live tail page is open (its stream must not hold
    the shutdown)."""
    goto(page, f"/console/tail?topics={TOPIC}")
    api.wait_for_tail(TOPIC)
    status = ferryd.terminate(10.0)
    assert status == 0, f"ferryd {'did not stop within 10 s' if status is None else f'exited with {status}'}:\n{ferryd.log()}"


def test_key_history(page: Page, api: FerryAPI):
    """The history of a key: its events of every topic (as documented for the API: topics by
    name, each in offset order); other keys' events not."""
    api.publish("orders", {"step": 1}, type="OrderCreated", key="order-7")
    api.publish("payments", {"step": 2}, type="PaymentTaken", key="order-7")
    api.publish("orders", {"step": 0}, type="OrderCreated", key="order-8")
    api.publish("orders", {"step": 3}, type="OrderShipped", key="order-7")
    goto(page, "/console/history")
    page.locator("main form input[name=key]").fill("order-7")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.url.endswith("/console/history?key=order-7")
    rows = [r.split("\t") for r in page.locator("main table tr").all_inner_texts()[1:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [("orders", "0", "OrderCreated"), ("orders", "2", "OrderShipped"),
                                                   ("payments", "0", "PaymentTaken")], rows
    assert [json.loads(r[5])["step"] for r in rows] == [1, 3, 2]


def test_key_history_of_a_key_with_spaces(page: Page, api: FerryAPI):
    """A key with a space, typed into the form (sent as order+9 by the browser), finds its events."""
    api.publish("orders", {"n": 1}, type="OrderCreated", key="order 9")
    goto(page, "/console/history")
    page.locator("main form input[name=key]").fill("order 9")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.locator("main form input[name=key]").input_value() == "order 9"
    expect(page.locator("main table tr")).to_have_count(2)


def test_key_history_of_an_unknown_key(page: Page, api: FerryAPI):
    """A key without events: the page answers with an empty table."""
    api.publish("orders", {"n": 1}, key="order-1")
    goto(page, "/console/history?key=nobody")
    expect(page.locator("main table tr")).to_have_count(1)
