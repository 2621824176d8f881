"""Orders and their lifecycle."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.events.orders import OrderLine
from shared.types import Currency, Money

__all__ = [
    "IDEMPOTENCY_WINDOW_SECONDS",
    "InvalidTransition",
    "KeyInFlight",
    "NewOrder",
    "NoProfile",
    "Order",
    "OrderLine",
    "OrderNotFound",
    "OrderNotPending",
    "OrderStatus",
    "StatusEntry",
    "order_total",
]


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


# PENDING is the only status an order leaves; the three others are final.
_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.CANCELLED}),
}


class InvalidTransition(Exception):
    """The order is not in a status the change may start from."""

    def __init__(self, order_id: str, current: OrderStatus, wanted: OrderStatus) -> None:
        self.order_id = order_id
        self.current = current
        self.wanted = wanted
        super().__init__(f"order {order_id} is {current}, it cannot become {wanted}")


class OrderNotPending(Exception):
    """The order left PENDING (cancelled, failed or confirmed) while fulfilment was under way."""


class OrderNotFound(Exception):
    pass


class NoProfile(Exception):
    """The user has no (active) profile copy here: unknown to the users service, or deleted."""


class KeyUsedForAnotherOrder(Exception):
    """The caller's Idempotency-Key names, within its window, an order with other contents."""


class KeyInFlight(Exception):
    """Another request holding the caller's Idempotency-Key may still be queueing its order."""


class StatusEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: OrderStatus
    at: datetime
    reason: str | None = None


IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
"""How long an ``Idempotency-Key`` names one order: a later order under the same key is a new one."""


class NewOrder(BaseModel):
    """An order accepted by the API and waiting in the intake queue to be recorded."""

    model_config = ConfigDict(frozen=True)

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    items: list[OrderLine] = Field(min_length=1, max_length=50)
    currency: Currency
    payment_token: str = Field(min_length=1)
    correlation_id: str = Field(min_length=1)
    placed_at: datetime

    @property
    def total(self) -> Decimal:
        return order_total(self.items)


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    user_id: str
    status: OrderStatus
    items: list[OrderLine]
    currency: Currency
    total: Money
    payment_token: str
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    history: list[StatusEntry]
    invoice_number: str | None = None
    charge_id: str | None = None
    failure_reason: str | None = None

    @classmethod
    def place(cls, new: NewOrder) -> Order:
        return cls(
            order_id=new.order_id,
            user_id=new.user_id,
            status=OrderStatus.PENDING,
            items=new.items,
            currency=new.currency,
            total=new.total,
            payment_token=new.payment_token,
            correlation_id=new.correlation_id,
            created_at=new.placed_at,
            updated_at=new.placed_at,
            history=[StatusEntry(status=OrderStatus.PENDING, at=new.placed_at)],
        )

    def transition(self, to: OrderStatus, at: datetime, reason: str | None = None, **changes: str) -> Order:
        """The order after a status change; raises ``InvalidTransition`` from a final status."""
        if to not in _NEXT.get(self.status, frozenset()):
            raise InvalidTransition(self.order_id, self.status, to)
        entry = StatusEntry(status=to, at=at, reason=reason)
        return self.model_copy(
            update={"status": to, "updated_at": at, "history": [*self.history, entry], **changes}
        )


def order_total(items: list[OrderLine]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in items), Decimal("0"))
