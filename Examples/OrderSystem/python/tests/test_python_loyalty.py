"""The Python loyalty worker (python/loyalty_worker.py, on the ferry_client worker runtime) beside
the real Swift orders-api: orders placed, confirmed and shipped over HTTP earn points once, a
cancelled one earns none, a version-1 OrderCreated published from Python is upcast to version 2
(by the Python worker, and by the Swift schema check), the award is
published in the order's chain (its history shows
LoyaltyPointsAwarded, caused by the OrderShipped), users' actions are counted in batches, and
SIGTERM drains the worker.

Executables: see system_support.py.
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from system_support import HERE, SystemProcesses, executable, http, require_executables, wait_until

from ferry_client import FerryClient  # noqa: E402

WORKER = HERE.parent / "loyalty_worker.py"


@pytest.fixture
def system(tmp_path):
    require_executables("ferryd", "orders-api")
    processes = SystemProcesses(tmp_path)
    try:
        endpoint = processes.start_ferryd("--http-endpoint", "off")
        api = processes.start_api(endpoint)
        processes.start("loyalty-worker", "--broker", endpoint, "--data-dir", str(tmp_path / "loyalty"), "--log-level",
                        "info", "--exit-with-parent", program=[sys.executable, str(WORKER)])
        yield endpoint, api, tmp_path, processes
    finally:
        processes.stop()


def place(api, user, cents):
    status, order = http("POST", f"{api}/api/orders",
                         {"userId": user, "items": [{"productId": "sku-1", "quantity": 1, "priceCents": cents}]})
    assert status == 201
    return order["id"]


def test_points_for_shipped_orders_once_in_the_chain_and_actions_in_batches(system):
    endpoint, api, directory, processes = system
    shipped = place(api, "user-points", 12_345)
    cancelled = place(api, "user-points", 99_900)
    for path, body in ((f"/api/orders/{shipped}/confirm", {}), (f"/api/orders/{shipped}/ship", {"trackingNumber": "1Z42"}),
                       (f"/api/orders/{cancelled}/cancel", {"reason": "changed my mind"})):
        status, _ = http("PUT", api + path, body)
        assert status == 200, path

    summary_path = directory / "loyalty" / "summary.json"

    def awarded():
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        return summary if summary.get("awards") == 1 else None

    summary = wait_until(awarded, 30, 0.1)
    assert summary, processes.log("loyalty-worker")
    assert summary["points"] == 102 and summary["users"] == 1  # the subtotal: 12 345 less 20% VAT in it

    def in_history():
        _, history = http("GET", f"{api}/api/orders/{shipped}/events")
        return history["events"] if any(e["type"] == "LoyaltyPointsAwarded" for e in history["events"]) else None

    events = wait_until(in_history, 20, 0.1)
    assert events, "LoyaltyPointsAwarded is not in the order's history"
    by_type = {event["type"]: event for event in events}
    award = by_type["LoyaltyPointsAwarded"]
    assert award["causationId"] == by_type["OrderShipped"]["eventId"]
    assert award["correlationId"] == by_type["OrderShipped"]["correlationId"]
    assert award["payload"] == {"order_id": shipped, "user_id": "user-points", "points": 102, "balance": 102}

    # Users' actions go to the engagement group in batches.
    with FerryClient(endpoint, "loyalty-test-storefront") as client:
        client.publish([{"topic": "UserAction", "id": f"action-{i}", "key": "user-points", "type": "UserAction",
                         "schema_version": 1, "content_type": "application/json",
                         "payload": json.dumps({"userId": "user-points", "action": "page_view" if i % 2 else "search"})}
                        for i in range(50)])
    assert wait_until(lambda: json.loads(summary_path.read_text()).get("actions", {}).get("page_view") == 25, 20)
    assert json.loads(summary_path.read_text())["actions"]["search"] == 25

    # An OrderCreated of schema version 1 (no subtotal, no tax), as the previous orders-api
    # published it, is upcast: the points come from the subtotal split out of its total.
    with FerryClient(endpoint, "loyalty-test-v1-publisher") as client:
        client.publish([
            {"topic": "OrderCreated", "id": "old-order", "key": "ord_old", "type": "OrderCreated", "schema_version": 1,
             "content_type": "application/json",
             "payload": json.dumps({"orderId": "ord_old", "userId": "user-old", "totalCents": "6000", "currency": "EUR"})},
            {"topic": "OrderShipped", "id": "old-shipped", "key": "ord_old", "type": "OrderShipped", "schema_version": 1,
             "content_type": "application/json",
             "payload": json.dumps({"orderId": "ord_old", "userId": "user-old", "trackingNumber": "1Z1"})},
        ])
    assert wait_until(lambda: json.loads(summary_path.read_text())["awards"] == 2, 20)
    assert json.loads(summary_path.read_text())["points"] == 102 + 50  # 6000 less the 1000 VAT in it

    # The Swift side reads it too: the order system's schema check (Swift types and upcasters)
    # passes on a log holding the Python-published version 1 beside orders-api's version 2.
    check = executable("order-system")
    if os.access(check, os.X_OK):
        result = subprocess.run([str(check), "check-schemas", "--broker", endpoint, "--topic", "OrderCreated"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OrderCreated v1: 1, v2: 2" in result.stdout and "every event decodes" in result.stdout, result.stdout

    # The cancelled order earned nothing, and SIGTERM drains the worker.
    assert json.loads(summary_path.read_text())["awards"] == 2
    worker = processes.processes["loyalty-worker"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, processes.log("loyalty-worker")
    assert "draining" in processes.log("loyalty-worker")
