"""Fulfilment task MarkFailed: PENDING → FAILED with the reason the Catch recorded (OrderFailed)."""

from __future__ import annotations

from typing import Any

from orders.adapters.orders_table import orders_table
from orders.domain.fulfilment import FulfilmentState, mark_failed
from orders.domain.model import OrderStatus
from orders.entrypoints import workflow_task
from orders.settings import OrdersSettings
from shared.events.envelope import utc_now
from shared.observability import metrics

settings = OrdersSettings.load()
orders = orders_table(settings)


@workflow_task
def handler(state: FulfilmentState) -> dict[str, Any]:
    order = mark_failed(state, now=utc_now(), orders=orders)
    if order.status is OrderStatus.FAILED:
        metrics.add_metric(name="OrdersFailed", unit="Count", value=1)
    return {"status": order.status, "failure_reason": order.failure_reason}
