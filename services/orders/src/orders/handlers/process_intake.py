"""Records the orders waiting in the intake queue (SQS, partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orders.adapters.orders_table import orders_table
from orders.domain.model import NewOrder
from orders.domain.placing import record_order
from orders.domain.ports import Recorded
from orders.settings import OrdersSettings
from shared.entrypoint import lambda_entrypoint
from shared.events.envelope import utc_now
from shared.observability import bind_correlation_id, logger, metrics

settings = OrdersSettings.load()
orders = orders_table(settings)
processor = BatchProcessor(event_type=EventType.SQS)


def record_message(record: SQSRecord) -> None:
    new = NewOrder.model_validate_json(record.body)
    bind_correlation_id(new.correlation_id)
    outcome = record_order(new, now=utc_now(), orders=orders)
    logger.info("intake message processed", extra={"order_id": new.order_id, "outcome": outcome})
    if outcome is Recorded.ADDED:
        metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_message, processor=processor, context=context
    )
