"""Screenshots of the console's main pages for the documentation (docs/screenshots/*.png, or
$SCREENSHOT_DIR), 1280x800, from a small made-up shop: fixed event ids, keys and payloads, so
that only times and byte counts change from run to run."""
from __future__ import annotations

import pathlib
import re

from playwright.sync_api import Page, expect

from console_pages import DeadLetterPage, goto
from ferry_http import DeadLetterSpec, FerryAPI

MAX_BYTES = 300_000


def event_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def build_shop(api: FerryAPI) -> None:
    """Three groups: "billing" with dead letters of two kinds, "email" caught up, "analytics"
    behind."""
    orders = [DeadLetterSpec("OrderCreated", f"order-{1040 + n}", {"order": 1040 + n, "customer": f"c-{17 + n}", "total": 25.5 * n,
                                                                     "items": [{"sku": "MUG-01", "qty": n}]},
                             "smtp: mailbox bounced (550 5.1.1 user unknown)", event_id(n), {"trace": f"trace-{n:04d}"}, topic="orders")
              for n in (1, 2, 3)]
    payments = [DeadLetterSpec("PaymentFailed", f"order-{1050 + n}", {"order": 1050 + n, "amount": 49.9, "card": "visa-4242"},
                               "gateway: card declined (insufficient funds)", event_id(10 + n), topic="payments") for n in (1, 2)]
    api.make_dead_letters("billing", "billing-1", "orders,payments", orders + payments)
    for n in range(4):
        api.publish("shipments", {"order": 1030 + n, "carrier": "parcel-co"}, type="OrderShipped", key=f"order-{1030 + n}",
                    event_id=event_id(20 + n))
    email = api.fetch_count("email", "mailer-1", "orders", 3)
    api.ack("email", "mailer-1", [d["delivery_id"] for d in email])
    api.fetch_count("analytics", "loader-1", "shipments", 1)
    # The history of one order across topics.
    api.publish("payments", {"order": 1041, "amount": 25.5}, type="PaymentTaken", key="order-1041", event_id=event_id(30))
    api.publish("shipments", {"order": 1041, "carrier": "parcel-co"}, type="OrderShipped", key="order-1041", event_id=event_id(31))


def shoot(page: Page, directory: pathlib.Path, name: str) -> pathlib.Path:
    """Saves the viewport as NAME.png and checks its size."""
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    size = path.stat().st_size
    assert 0 < size < MAX_BYTES, f"{path} is {size} bytes"
    return path


def test_screenshots(page: Page, api: FerryAPI, screenshot_dir: pathlib.Path):
    """overview, groups, dead-letters (an entry expanded), tail (with rows), history, trace."""
    build_shop(api)

    goto(page, "/console")
    expect(page.locator("#publish-rate")).to_have_text(re.compile(r"^\d+$"), timeout=8000)
    shoot(page, screenshot_dir, "overview")

    goto(page, "/console/groups")
    shoot(page, screenshot_dir, "groups")

    dlq = DeadLetterPage(page, "billing").open()
    assert len(dlq.ids()) == 5
    dlq.expand(dlq.ids()[0])
    shoot(page, screenshot_dir, "dead-letters")

    goto(page, "/console/tail?topics=orders,payments")
    api.wait_for_tail("orders,payments")
    for n in range(6):
        api.publish("orders" if n % 2 == 0 else "payments", {"order": 1060 + n, "total": 12.5 + n},
                    type="OrderCreated" if n % 2 == 0 else "PaymentTaken", key=f"order-{1060 + n}", event_id=event_id(40 + n))
    expect(page.locator("#tail tr")).to_have_count(7, timeout=10_000)
    shoot(page, screenshot_dir, "tail")

    goto(page, "/console/history?key=order-1041")
    expect(page.locator("main table tr")).to_have_count(4)
    shoot(page, screenshot_dir, "history")

    # The life of the first dead-lettered order: delivered to billing (dead-lettered) and to
    # email (acked), and the apology it caused.
    api.publish("emails", {"order": 1041, "template": "payment-problem"}, type="ApologySent", key="order-1041",
                event_id=event_id(50), correlation_id=event_id(1), causation_id=event_id(1))
    api.wait_for_trace(event_id(1), ["delivered", "nacked", "dead_lettered", "delivered", "acked"])
    goto(page, f"/console/trace?event={event_id(1)}")
    expect(page.locator(".event")).to_have_count(2)
    shoot(page, screenshot_dir, "trace")
