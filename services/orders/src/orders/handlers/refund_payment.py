"""Fulfilment task RefundPayment: the compensation when an order was cancelled after its charge."""

from __future__ import annotations

from typing import Any

from orders.adapters.payment import FakePaymentProvider
from orders.domain.fulfilment import FulfilmentState, refund_payment
from orders.entrypoints import workflow_task

payments = FakePaymentProvider()


@workflow_task
def handler(state: FulfilmentState) -> dict[str, Any]:
    return {"refund_id": refund_payment(state, payments=payments)}
