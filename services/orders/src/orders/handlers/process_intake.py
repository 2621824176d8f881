"""Records the orders waiting in the intake queue (SQS, partial batch failures); a message that is
not an order goes to the intake DLQ at once (``shared.consumer``'s one rejection policy)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from orders.adapters.orders_table import OrdersTable
from orders.domain.model import NewOrder
from orders.domain.placing import record_order
from orders.domain.ports import Recorded
from orders.settings import ConsumerSettings
from shared.consumer import queue_consumer
from shared.dead_letters import DeadLetterQueue
from shared.events.envelope import utc_now
from shared.events.errors import InvalidEvent
from shared.observability import bind_correlation_id, logger, metrics

settings = ConsumerSettings.load()
orders = OrdersTable(boto3.client("dynamodb", region_name=settings.aws_region), settings.table_name)


def parse_order(record: SQSRecord) -> NewOrder:
    try:
        return NewOrder.model_validate_json(record.body)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in error.errors())
        raise InvalidEvent(f"not an accepted order: {fields}") from None


def record(new: NewOrder, lambda_context: Any) -> None:
    bind_correlation_id(new.correlation_id)
    outcome = record_order(new, now=utc_now(), orders=orders)
    logger.info("intake message processed", extra={"order_id": new.order_id, "outcome": outcome})
    if outcome is Recorded.ADDED:
        metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)


handler = queue_consumer(
    parse_order,
    record,
    dead_letters=DeadLetterQueue(
        boto3.client("sqs", region_name=settings.aws_region), settings.dead_letter_queue_name
    ),
)
