"""Fulfilment task ConfirmOrder: invoice number and PENDING → CONFIRMED (OrderConfirmed)."""

from __future__ import annotations

from typing import Any

from orders.adapters.orders_table import orders_table
from orders.domain.fulfilment import FulfilmentState, confirm_order
from orders.entrypoints import workflow_task
from orders.settings import OrdersSettings
from shared.events.envelope import utc_now
from shared.observability import metrics

settings = OrdersSettings.load()
orders = orders_table(settings)


@workflow_task
def handler(state: FulfilmentState) -> dict[str, Any]:
    order = confirm_order(state, now=utc_now(), orders=orders)
    metrics.add_metric(name="OrdersConfirmed", unit="Count", value=1)
    return {"status": order.status, "invoice_number": order.invoice_number}
