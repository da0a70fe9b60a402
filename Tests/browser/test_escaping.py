"""Event data and query fields holding HTML show as text in the console: nothing of them runs,
no element of them appears."""
from __future__ import annotations

import json
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from console_pages import ENTRY_TAGS, DeadLetterPage, goto, js_undefined
from ferry_http import DeadLetterSpec, FerryAPI

GROUP, MEMBER, TOPIC = "billing", "worker-1", "orders"

PAYLOAD = {"x": "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"}
KEY = "<img src=k onerror=window.__pwned=3>&\"'"
ERROR = "<script>window.__pwned=4</script><b onmouseover=window.__pwned=5>boom</b> & <i>more</i>"
TYPE = "Evil<i>Type</i>"
HEADER = "<svg onload=window.__pwned=6></svg>"


def test_dead_letter_with_html_shows_as_text(page: Page, api: FerryAPI):
    """Payload, key, type, error text and a header full of HTML: shown literally in the entry and
    its expanded details, nothing runs, no element of theirs exists; the key's history link
    carries the key and that page shows it literally too."""
    [entry] = api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec(TYPE, KEY, PAYLOAD, ERROR, headers={"note": HEADER})])
    dlq = DeadLetterPage(page, GROUP).open()

    shown = dlq.expand(entry["id"])
    assert json.loads(shown) == PAYLOAD
    assert "<img src=x onerror=window.__pwned=2>" in shown
    [listed] = dlq.entries()
    assert (listed.type, listed.key, listed.error) == (TYPE, KEY, ERROR)
    expect(dlq.row(entry["id"]).locator("details div")).to_have_text(f"note: {HEADER}")
    assert js_undefined(page, "__pwned")
    assert dlq.tags_in(entry["id"]) <= ENTRY_TAGS, dlq.row(entry["id"]).inner_html()
    assert page.locator("main img, main svg, main i").count() == 0

    # The key's link to its history.
    with page.expect_navigation():
        dlq.row(entry["id"]).locator('a[href^="/console/history"]').click()
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)["key"] == [KEY]
    assert page.locator("main form input[name=key]").input_value() == KEY
    cells = page.locator("main table tr td").all_inner_texts()
    assert TYPE in cells and json.loads(cells[-1]) == PAYLOAD, cells
    assert js_undefined(page, "__pwned")
    assert page.locator("main img, main svg, main i").count() == 0
    assert page.locator("main script", has_text="__pwned").count() == 0


IMG = "\"><img src=x onerror=window.__pwned=1>"


@pytest.mark.allow_console_errors  # a live tail of a pattern ferryd refuses logs the failed stream
@pytest.mark.parametrize("path, fields, text", [
    ("/console/groups/billing/dead-letters",
     {"type": IMG, "error": "</textarea><script>window.__pwned=2</script>", "key": "'><svg onload=window.__pwned=3>"}, None),
    ("/console/groups/billing/dead-letters", {"done": IMG}, IMG),
    ("/console/tail", {"topics": IMG}, IMG),
    ("/console/history", {"key": IMG}, None),
    ("/console/groups/" + urllib.parse.quote(IMG, safe="") + "/dead-letters", {}, None),
], ids=["dead-letter-filter", "flash", "tail-topics", "history-key", "group-name"])
def test_query_fields_are_not_markup(page: Page, api: FerryAPI, path: str, fields: dict[str, str], text: str | None):
    """What a link can put in a page (filter fields, the flash, topics, a key, a group name) is
    shown as text: form fields keep the value, nothing runs, no element of it appears."""
    api.make_dead_letters(GROUP, MEMBER, TOPIC, [DeadLetterSpec("Plain", "k", {"n": 1}, "e")])
    goto(page, path + ("?" + urllib.parse.urlencode(fields, quote_via=urllib.parse.quote) if fields else ""))
    assert js_undefined(page, "__pwned")
    assert page.locator("main img, main svg").count() == 0, page.locator("main").inner_html()
    assert page.locator("main script", has_text="__pwned").count() == 0, page.locator("main").inner_html()
    for name, value in fields.items():
        field = page.locator(f"main form input[name={name}]")
        if field.count():
            assert field.first.input_value() == value
    if text is not None:
        expect(page.locator("main")).to_contain_text(text)


def test_live_tail_shows_html_as_text(page: Page, api: FerryAPI):
    """A tailed event whose key and payload hold HTML: the row shows them as text."""
    goto(page, f"/console/tail?topics={TOPIC}")
    api.wait_for_tail(TOPIC)
    api.publish(TOPIC, PAYLOAD, type=TYPE, key=KEY)
    row = page.locator("#tail tr").nth(1)
    expect(row.locator("td").nth(3)).to_have_text(KEY)
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == [TOPIC, "0", TYPE, KEY] and json.loads(cells[4]) == PAYLOAD, cells
    assert js_undefined(page, "__pwned")
    assert page.locator("#tail img, #tail svg, #tail i, #tail script").count() == 0
