"""Fulfilment task ChargePayment: one payment attempt (Retry on PaymentTransientError is the state
machine's)."""

from __future__ import annotations

from typing import Any

from orders.adapters.orders_table import orders_table
from orders.adapters.payment import FakePaymentProvider
from orders.domain.fulfilment import FulfilmentState, charge_payment
from orders.entrypoints import workflow_task
from orders.settings import OrdersSettings

settings = OrdersSettings.load()
orders = orders_table(settings)
payments = FakePaymentProvider()


@workflow_task
def handler(state: FulfilmentState) -> dict[str, Any]:
    return charge_payment(state, orders=orders, payments=payments).model_dump()
