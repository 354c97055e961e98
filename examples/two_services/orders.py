"""The orders service: orders are placed, and a relay tells the world."""

from __future__ import annotations

from evtsrc import Aggregate, CommandError, Event, EventMeta, command, folds, on_event
from evtsrc.messaging import Relay

from .contract import OrderPlacedV1


class OrderPlaced(Event, type_name="order.placed"):
    """Internal: free to change, as the service changes."""

    customer: str
    lines: tuple[tuple[str, int], ...]


class Order(Aggregate, stream="orders"):
    placed: bool = False

    @folds
    def _placed(self, event: OrderPlaced) -> None:
        self.placed = True

    @command
    def place(self, customer: str, lines: list[tuple[str, int]]) -> OrderPlaced:
        if self.placed:
            raise CommandError(f"order {self.id} is placed already")
        return OrderPlaced(customer=customer, lines=tuple(lines))


class OrdersOut(Relay, name="orders-out"):
    """Publishes each placed order as the contract's `OrderPlacedV1`."""

    @on_event
    def placed(self, event: OrderPlaced, meta: EventMeta) -> None:
        total = sum(cents for _, cents in event.lines)
        message = OrderPlacedV1(order=meta.aggregate_id, customer=event.customer, total_cents=total)
        self.publish(message, meta)
