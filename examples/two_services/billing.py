"""The billing service: charges customers for orders, and keeps their balances."""

from __future__ import annotations

from evtsrc import (
    Aggregate,
    Event,
    EventHandler,
    EventMeta,
    Repository,
    command,
    folds,
    on_event,
)
from evtsrc.messaging import InboxHandler, on_message

from .contract import OrderPlacedV1


class Charged(Event, type_name="account.charged"):
    order: str
    cents: int


class Account(Aggregate, stream="accounts"):
    owed: int = 0

    @folds
    def _charged(self, event: Charged) -> None:
        self.owed += event.cents

    @command
    def charge(self, order: str, cents: int) -> Charged:
        return Charged(order=order, cents=cents)


class Billing(InboxHandler, name="billing"):
    """Charges the customer of each order placed, once per order message."""

    def __init__(self, accounts: Repository[Account]) -> None:
        self.accounts = accounts

    @on_message
    async def placed(self, message: OrderPlacedV1) -> None:
        await self.accounts.execute(
            message.customer, Account.charge, order=message.order, cents=message.total_cents
        )


class Balances(EventHandler, name="balances"):
    """Billing's own read model: what each customer owes."""

    def __init__(self) -> None:
        self.owed: dict[str, int] = {}

    @on_event
    def charged(self, event: Charged, meta: EventMeta) -> None:
        self.owed[meta.aggregate_id] = self.owed.get(meta.aggregate_id, 0) + event.cents
