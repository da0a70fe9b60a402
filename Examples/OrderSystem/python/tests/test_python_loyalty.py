"""The Python loyalty worker (python/loyalty_worker.py, on the ferry_client worker runtime) beside
the real Swift orders-api: orders placed, confirmed and shipped over HTTP earn points once, a
cancelled one earns none, a version-1 OrderCreated published from Python is upcast to version 2
(by the Python worker, and by the Swift schema check), the award is
published in the order's chain (its history shows
LoyaltyPointsAwarded, caused by the OrderShipped), users' actions are counted in batches, and
SIGTERM drains the worker.

  FERRY_BIN_DIR, ORDER_SYSTEM_BIN_DIR: as in test_python_inventory.py.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "clients" / "python"))

from test_python_inventory import EXECUTABLES, ORDER_SYSTEM_BIN, http, wait_until  # noqa: E402

from ferry_client import FerryClient  # noqa: E402

WORKER = HERE.parent / "loyalty_worker.py"


@pytest.fixture
def system(tmp_path):
    needed = {name: EXECUTABLES[name] for name in ("ferryd", "orders-api")}
    missing = [str(path) for path in needed.values() if not os.access(path, os.X_OK)]
    if missing:
        message = f"Swift executables not built: {missing}"
        if "FERRY_BIN_DIR" in os.environ or "ORDER_SYSTEM_BIN_DIR" in os.environ:
            pytest.fail(message)
        pytest.skip(message)
    processes = {}

    def start(name, *arguments, program=None):
        log = open(tmp_path / f"{name}.log", "wb")
        processes[name] = subprocess.Popen([*(program or [str(needed[name])]), *arguments], stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    try:
        endpoint_file = tmp_path / "endpoint"
        start("ferryd", "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file), "--data-dir",
              str(tmp_path / "ferryd"), "--log-level", "warning", "--exit-with-parent", "--http-endpoint", "off")
        endpoint = wait_until(lambda: endpoint_file.exists() and endpoint_file.read_text().strip(), 20)
        assert endpoint, "ferryd did not start"
        port_file = tmp_path / "api.port"
        start("orders-api", "--broker", endpoint, "--log-level", "warning", "--data-dir", str(tmp_path / "api"),
              "--port", "0", "--port-file", str(port_file))
        start("loyalty-worker", "--broker", endpoint, "--data-dir", str(tmp_path / "loyalty"), "--log-level", "info",
              "--exit-with-parent", program=[sys.executable, str(WORKER)])
        port = wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 30)
        assert port, "orders-api did not listen"
        yield endpoint, f"http://127.0.0.1:{port}", tmp_path, processes
    finally:
        for name in [name for name in processes if name != "ferryd"] + ["ferryd"]:
            process = processes.get(name)
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


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
    assert summary, (directory / "loyalty-worker.log").read_text()
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
    check = ORDER_SYSTEM_BIN / "order-system"
    if os.access(check, os.X_OK):
        result = subprocess.run([str(check), "check-schemas", "--broker", endpoint, "--topic", "OrderCreated"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OrderCreated v1: 1, v2: 2" in result.stdout and "every event decodes" in result.stdout, result.stdout

    # The cancelled order earned nothing, and SIGTERM drains the worker.
    assert json.loads(summary_path.read_text())["awards"] == 2
    worker = processes["loyalty-worker"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, (directory / "loyalty-worker.log").read_text()
    assert "draining" in (directory / "loyalty-worker.log").read_text()
