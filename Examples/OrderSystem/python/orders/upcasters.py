"""How the order system's events published under older schema versions become the current ones,
in Python: the same steps as OrderSystemUpcasters in Swift (OrderEvents.swift). Importing this
module registers them with ferry_client's default upcasters."""
from ferry_client import upcaster

#: Prices include VAT at this rate, in percent.
VAT_PERCENT = 20


def tax_in_total(total_cents: int) -> int:
    """The VAT in a price that includes it, rounded to the cent: 12000 → 2000."""
    return (total_cents * VAT_PERCENT + (100 + VAT_PERCENT) // 2) // (100 + VAT_PERCENT)


@upcaster("OrderCreated", 1)
def order_created_1_to_2(order: dict) -> dict:
    """Version 2 added subtotalCents and taxCents: split from the total as orders-api does."""
    total = int(order.get("totalCents", order.get("total_cents", 0)) or 0)
    tax = tax_in_total(total)
    return {**order, "subtotalCents": str(total - tax), "taxCents": str(tax)}
