"""Request and response bodies of the orders HTTP API."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from orders.domain.model import Order, OrderLine, OrderStatus, StatusEntry
from orders.domain.ports import OrdersPage
from shared.http import RequestBody
from shared.keys import ULID_PATTERN
from shared.types import Currency, Integer, Money

ORDER_ID_PATTERN = ULID_PATTERN
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


# A decimal string in plain notation, positive, at most 999999.99, at most two decimal places, no
# leading zero. Strings only: JSON numbers become floats before any validator runs.
PRICE_PATTERN = r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9]))$"
_PRICE = re.compile(PRICE_PATTERN)


def _price(value: object) -> object:
    if not isinstance(value, str) or not _PRICE.fullmatch(value):
        raise ValueError(
            "must be a decimal string such as '12.50': positive, at most 999999.99 and two decimal "
            "places, no leading zero"
        )
    return value


Price = Annotated[
    Decimal, BeforeValidator(_price), WithJsonSchema({"type": "string", "pattern": PRICE_PATTERN})
]
"""A unit price, as the API takes it."""


class LineRequest(RequestBody):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    quantity: Integer = Field(ge=1, le=1000)
    unit_price: Price


class PlaceOrderRequest(RequestBody):
    items: list[LineRequest] = Field(min_length=1, max_length=50)
    currency: Currency
    payment_token: str = Field(min_length=5, max_length=64, pattern=r"^tok_[A-Za-z0-9_]+$")

    def lines(self) -> list[OrderLine]:
        return [OrderLine(**line.model_dump()) for line in self.items]


class PlacedOrder(BaseModel):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    status: Literal[OrderStatus.PENDING] = OrderStatus.PENDING


class OrderView(BaseModel):
    order_id: str = Field(pattern=ORDER_ID_PATTERN)
    user_id: str
    status: OrderStatus
    items: list[OrderLine]
    currency: Currency
    total: Money
    created_at: datetime
    updated_at: datetime
    invoice_number: str | None
    failure_reason: str | None
    history: list[StatusEntry]

    @classmethod
    def of(cls, order: Order) -> OrderView:
        # Explicit fields: the payment token and charge id never leave the service.
        return cls.model_validate(order.model_dump(include=set(cls.model_fields)))


class ProfileView(BaseModel):
    user_id: str
    email: str | None
    name: str | None


class OrdersPageView(BaseModel):
    profile: ProfileView | None
    orders: list[OrderView]
    next_cursor: str | None

    @classmethod
    def of(cls, page: OrdersPage) -> OrdersPageView:
        profile = page.profile
        return cls(
            profile=ProfileView(user_id=profile.user_id, email=profile.email, name=profile.name)
            if profile
            else None,
            orders=[OrderView.of(order) for order in page.orders],
            next_cursor=page.next_cursor,
        )
