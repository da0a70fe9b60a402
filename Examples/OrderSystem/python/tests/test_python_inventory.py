"""A Python handler takes the inventory worker's place in the Swift order system.

ferryd, orders-api, payment-worker and fulfillment-worker run as the real Swift processes; this
test is the `inventory` handler group, written in Python with the generated order events
(orders/v1/events_pb2.py) and the Python client. An order placed over HTTP reaches it as
`OrderCreated` (the protobuf JSON mapping), it answers `InventoryReserved`, and the Swift
fulfillment worker joins that with the Swift payment's `PaymentProcessed` into
`OrderReadyForFulfillment`.

  FERRY_BIN_DIR          where the root package's executables are, ferryd among them
                         (default <repo>/.build/debug)
  ORDER_SYSTEM_BIN_DIR   where the order system's executables are
                         (default <repo>/Examples/OrderSystem/.build/debug)
When either is set, a missing executable fails the test; otherwise the test is skipped.
"""
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "clients" / "python"))

from google.protobuf import json_format  # noqa: E402
from ferry_client import FerryClient  # noqa: E402
from orders.v1 import events_pb2  # noqa: E402

FERRY_BIN = pathlib.Path(os.environ.get("FERRY_BIN_DIR", str(REPO / ".build" / "debug")))
ORDER_SYSTEM_BIN = pathlib.Path(os.environ.get("ORDER_SYSTEM_BIN_DIR", str(REPO / "Examples" / "OrderSystem" / ".build" / "debug")))
EXECUTABLES = {
    "ferryd": FERRY_BIN / "ferryd",
    **{name: ORDER_SYSTEM_BIN / name for name in ["orders-api", "payment-worker", "fulfillment-worker"]},
}


def wait_until(predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def system(tmp_path):
    missing = [str(path) for path in EXECUTABLES.values() if not os.access(path, os.X_OK)]
    if missing:
        message = (f"Swift executables not built: {missing} (run `swift build` at the repository root and "
                   "`swift build --package-path Examples/OrderSystem`)")
        if "FERRY_BIN_DIR" in os.environ or "ORDER_SYSTEM_BIN_DIR" in os.environ:
            pytest.fail(message)
        pytest.skip(message)
    processes = []

    def start(*arguments):
        log = open(tmp_path / f"{arguments[0]}.log", "wb")
        processes.append(subprocess.Popen([str(EXECUTABLES[arguments[0]]), *arguments[1:]], stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL))

    try:
        endpoint_file = tmp_path / "endpoint"
        start("ferryd", "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file), "--data-dir",
              str(tmp_path / "ferryd"), "--log-level", "warning", "--exit-with-parent", "--http-endpoint", "127.0.0.1:0")
        endpoint = wait_until(lambda: endpoint_file.exists() and endpoint_file.read_text().strip(), 20)
        assert endpoint, "ferryd did not start"
        common = ["--broker", endpoint, "--log-level", "warning"]
        port_file = tmp_path / "api.port"
        start("orders-api", *common, "--data-dir", str(tmp_path / "api"), "--port", "0", "--port-file", str(port_file))
        start("payment-worker", *common, "--data-dir", str(tmp_path / "payment"))
        start("fulfillment-worker", *common, "--data-dir", str(tmp_path / "fulfillment"))
        port = wait_until(lambda: port_file.exists() and port_file.read_text().strip(), 30)
        assert port, "orders-api did not listen"
        yield endpoint, f"http://127.0.0.1:{port}"
    finally:
        # The workers first (they drain against ferryd), then ferryd.
        for batch in (processes[1:], processes[:1]):
            for process in batch:
                process.terminate()
            for process in batch:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def http(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_python_inventory_handler_joins_the_swift_order_system(system):
    endpoint, api = system
    with FerryClient(endpoint, "python-inventory") as client:
        client.subscribe("inventory", "OrderCreated")
        status, order = http("POST", f"{api}/api/orders",
                             {"userId": "user-py", "items": [{"productId": "sku-9", "quantity": 3, "priceCents": 450}]})
        assert status == 201

        delivery = None
        for candidate in client.deliveries(idle_timeout=20):
            created = json_format.Parse(candidate.event.payload, events_pb2.OrderCreated(), ignore_unknown_fields=True)
            if created.order_id == order["id"]:
                delivery = candidate
                break
            client.ack(candidate)
        assert delivery is not None, "OrderCreated never reached the Python handler"
        assert delivery.event.type == "OrderCreated" and delivery.event.key == order["id"]
        assert created.user_id == "user-py" and created.total_cents == 1350 and created.currency == "USD"
        assert [(i.product_id, i.quantity, i.price_cents) for i in created.items] == [("sku-9", 3, 450)]

        reserved = events_pb2.InventoryReserved(order_id=created.order_id, items=created.items)
        reserved.reserved_at.GetCurrentTime()
        client.publish([{
            "topic": "InventoryReserved", "id": f"{delivery.event.id}/InventoryReserved", "key": created.order_id,
            "type": "InventoryReserved", "schema_version": 1, "content_type": "application/json",
            "payload": json_format.MessageToJson(reserved, indent=None),
            "correlation_id": delivery.event.correlation_id or delivery.event.id, "causation_id": delivery.event.id,
        }])
        client.ack(delivery)
        client.flush()

    def ready():
        _, history = http("GET", f"{api}/api/orders/{order['id']}/events")
        types = [event["type"] for event in history["events"]]
        return types if "OrderReadyForFulfillment" in types else None

    types = wait_until(ready, 30, 0.1)
    assert types, "the Swift fulfillment worker did not announce the order"
    assert types.count("OrderReadyForFulfillment") == 1
    assert {"OrderCreated", "PaymentProcessed", "InventoryReserved"} <= set(types)
