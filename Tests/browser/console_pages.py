"""Page helpers for the console in Playwright: what a test reads from or does on a page, by the
ids and names the templates (Sources/FerryHTTP/ConsoleTemplates.swift) give."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Optional

from playwright.sync_api import Dialog, Page, Response

from ferry_http import quote

# Every element the dead-letter template itself puts inside an entry's row: anything else there
# came from the data (an escaping bug).
ENTRY_TAGS = {"td", "input", "b", "span", "br", "a", "details", "summary", "pre", "div"}


@dataclass(frozen=True)
class Entry:
    """One row of the dead-letter table, as shown."""
    id: int
    type: str
    error: str
    key: Optional[str]


def goto(page: Page, path: str) -> Response:
    """Opens ``path`` of the console and checks it answered 200 with HTML."""
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path} -> {response and response.status}"
    assert response.headers.get("content-type", "").startswith("text/html"), response.headers
    return response


def heading(page: Page) -> str:
    return page.locator("main h1").inner_text()


def flash(page: Page) -> Optional[str]:
    """The flash message (#flash) after an action, if any."""
    box = page.locator("#flash")
    return box.inner_text() if box.count() else None


def js_undefined(page: Page, name: str) -> bool:
    return page.evaluate(f"typeof window.{name} === 'undefined'")


class DeadLetterPage:
    """/console/groups/GROUP/dead-letters: the filter form, the entries, the action buttons."""

    def __init__(self, page: Page, group: str):
        self.page, self.group = page, group
        self.path = f"/console/groups/{quote(group)}/dead-letters"

    def open(self, **query: str) -> "DeadLetterPage":
        goto(self.page, self.path + ("?" + urllib.parse.urlencode(query) if query else ""))
        assert heading(self.page) == f"Dead letters of {self.group}"
        return self

    def entries(self) -> list[Entry]:
        rows = self.page.locator("tr.entry").evaluate_all(
            """rows => rows.map(r => ({
                id: Number(r.id.replace('entry-', '')),
                type: r.querySelector('td:nth-child(3) > b').textContent,
                error: r.querySelector('pre.error-text').textContent,
                key: r.querySelector('a[href^="/console/history"]')?.textContent ?? null}))""")
        return [Entry(**row) for row in rows]

    def ids(self) -> list[int]:
        return [e.id for e in self.entries()]

    def shown(self) -> str:
        """The "N shown" line above the table."""
        return self.page.locator("#entries > p").inner_text()

    def filter(self, **fields: str) -> Response:
        """Fills the filter form (fields not named are cleared) and submits it."""
        for name in ("type", "error", "key", "since", "until"):
            self.page.locator(f"#filter input[name={name}]").fill(fields.get(name, ""))
        with self.page.expect_navigation() as navigation:
            self.page.locator("#filter button").click()
        response = navigation.value
        assert response is not None
        return response

    def row(self, entry_id: int):
        return self.page.locator(f"#entry-{entry_id}")

    def select(self, *entry_ids: int) -> None:
        for entry_id in entry_ids:
            self.row(entry_id).locator("input[type=checkbox]").check()

    def button(self, name: str):
        return self.page.get_by_role("button", name=name, exact=True)

    def act(self, button: str, confirmations: Optional[list[str]] = None) -> Response:
        """Clicks an action button and waits for the page the action redirects to. With
        ``confirmations``, a confirmation dialog is accepted and its text appended there (without,
        a dialog is dismissed, as Playwright does when nobody listens)."""
        def accept(dialog: Dialog) -> None:
            confirmations.append(dialog.message)
            dialog.accept()

        if confirmations is not None:
            self.page.on("dialog", accept)
        try:
            with self.page.expect_navigation() as navigation:
                self.button(button).click()
        finally:
            if confirmations is not None:
                self.page.remove_listener("dialog", accept)
        response = navigation.value
        assert response is not None and response.status == 200, \
            f"{button} -> {response and response.status}: {response and response.text()[:300]}"
        return response

    def expand(self, entry_id: int) -> str:
        """Opens an entry's details; returns the payload text shown."""
        row = self.row(entry_id)
        row.locator("summary").click()
        payload = row.locator("pre.payload")
        payload.wait_for(state="visible")
        return payload.text_content()

    def tags_in(self, entry_id: int) -> set[str]:
        """The element names inside an entry's row."""
        return set(self.row(entry_id).evaluate("r => [...r.querySelectorAll('*')].map(e => e.localName)"))
