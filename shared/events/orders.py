"""Events published by the orders service (source ``shop.orders``).

Money travels as decimal strings (``"12.50"``) with an ISO 4217 currency, never as floats.
The payment token is not part of any event: it stays in the orders table.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import APP, DomainEvent
from shared.types import Currency, Money

SOURCE = f"{APP}.orders"


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)
    unit_price: Money


class OrderPlaced(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "OrderPlaced"

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    items: list[OrderLine] = Field(min_length=1)
    currency: Currency
    total: Money


class OrderConfirmed(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "OrderConfirmed"

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    currency: Currency
    total: Money
    invoice_number: str = Field(min_length=1)


class OrderFailed(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "OrderFailed"

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class OrderCancelled(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "OrderCancelled"

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
