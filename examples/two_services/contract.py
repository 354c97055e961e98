"""The orders service's public contract: what other services may rely on."""

from __future__ import annotations

from evtsrc import Event


class OrderPlacedV1(Event, type_name="orders.order-placed"):
    """An order was placed: the customer owes its total."""

    order: str
    customer: str
    total_cents: int
