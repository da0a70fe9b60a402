"""A Python handler takes the inventory worker's place in the Swift order system.

ferryd, orders-api, payment-worker and fulfillment-worker run as the real Swift processes; this
test is the `inventory` handler group, written in Python with the generated order events
(orders/v1/events_pb2.py) and the Python client. An order placed over HTTP reaches it as
`OrderCreated` (the protobuf JSON mapping), it answers `InventoryReserved`, and the Swift
fulfillment worker joins that with the Swift payment's `PaymentProcessed` into
`OrderReadyForFulfillment`.

Executables: see system_support.py.
"""
import pytest

from system_support import SystemProcesses, http, require_executables, wait_until

from google.protobuf import json_format  # noqa: E402
from ferry_client import FerryClient  # noqa: E402
from orders.v1 import events_pb2  # noqa: E402


@pytest.fixture
def system(tmp_path):
    require_executables("ferryd", "orders-api", "payment-worker", "fulfillment-worker")
    processes = SystemProcesses(tmp_path)
    try:
        endpoint = processes.start_ferryd("--http-endpoint", "127.0.0.1:0")
        common = ["--broker", endpoint, "--log-level", "warning"]
        api = processes.start_api(endpoint)
        processes.start("payment-worker", *common, "--data-dir", str(tmp_path / "payment"))
        processes.start("fulfillment-worker", *common, "--data-dir", str(tmp_path / "fulfillment"))
        yield endpoint, api
    finally:
        processes.stop()


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
