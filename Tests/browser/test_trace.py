"""The console's event trace (/console/trace) in a real browser: an event's timeline with its
retry and the event it caused, reached from the dead-letter browser and from a key's history."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from console_pages import DeadLetterPage, goto
from ferry_http import DeadLetterSpec, FerryAPI


def test_timeline_with_retry_and_caused_event(page: Page, api: FerryAPI):
    """An order nacked once (with the handler's error) and then acked, and the email it caused:
    the timeline shows each step in order under its group, the error marked as a failure, and
    the caused event indented under it; the key's history links to both traces."""
    api.publish("orders", {"order": 7, "total": 30}, type="OrderCreated", key="order-7", event_id="order-7-created")
    [first] = api.fetch_count("billing", "billing-1", "orders", 1)
    api.ok("POST", f"/groups/billing/members/billing-1/deliveries/{first['delivery_id']}/nack",
           {"error": "card gateway timed out", "delay_ms": 50})
    [second] = api.fetch_count("billing", "billing-1", "orders", 1)
    api.ack("billing", "billing-1", [second["delivery_id"]])
    api.publish("emails", {"order": 7}, type="ReceiptSent", key="order-7", event_id="order-7-receipt",
                correlation_id="order-7-created", causation_id="order-7-created")
    api.wait_for_trace("order-7-created", ["delivered", "nacked", "retry_scheduled", "delivered", "acked"])

    goto(page, "/console/history?key=order-7")
    page.locator("#trace-key").click()
    expect(page.locator(".event")).to_have_count(2)
    root, caused = page.locator(".event").nth(0), page.locator(".event").nth(1)
    expect(root.locator("h2")).to_contain_text("OrderCreated")
    expect(root.locator(".group")).to_have_text(["billing"])
    expect(root.locator(".step")).to_have_count(5)
    kinds = [root.locator(".step").nth(n).get_attribute("class") for n in range(5)]
    assert [k.split()[1] for k in kinds] == ["delivered", "nacked", "retry_scheduled", "delivered", "acked"]
    expect(root.locator(".step.failure")).to_contain_text("failed in http:billing-1: card gateway timed out")
    expect(root.locator(".step.retry_scheduled")).to_contain_text("retry scheduled: attempt 2 in 50.0 ms")
    expect(caused.locator("h2")).to_contain_text("caused ReceiptSent")
    assert page.evaluate("(e) => parseInt(getComputedStyle(e).marginLeft)", caused.element_handle()) > 0

    # Each event id is a link to that event's own trace: the receipt alone.
    caused.get_by_role("link", name="order-7-receipt").click()
    expect(page.locator(".event")).to_have_count(1)
    expect(page.locator("#trace-form input[name=event]")).to_have_value("order-7-receipt")


def test_from_dead_letter_to_its_trace(page: Page, api: FerryAPI):
    """The dead-letter browser links each event to its trace, which ends in the dead letter."""
    [entry] = api.make_dead_letters("email", "mailer-1", "orders",
                                    [DeadLetterSpec("OrderConfirmed", "order-9", {"order": 9}, "mailbox bounced (550)")])
    api.wait_for_trace(entry["event"]["id"], ["delivered", "nacked", "dead_lettered"])
    DeadLetterPage(page, "email").open()
    page.locator(f"#entry-{entry['id']} a.trace-link").click()
    expect(page.locator("h1")).to_have_text("Event trace")
    expect(page.locator(".step.dead_lettered")).to_contain_text("dead-lettered after 1 attempt: rejected by the handler: mailbox bounced (550)")


def test_unknown_event_says_so(page: Page):
    goto(page, "/console/trace?event=never-published")
    expect(page.locator("#no-trace")).to_be_visible()
    expect(page.locator(".event")).to_have_count(0)
