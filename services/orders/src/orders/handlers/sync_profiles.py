"""Keeps the profile copy from the users service's events (bus rule → SQS → here); a deleted user's
open orders are cancelled."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orders.adapters.orders_table import orders_table
from orders.domain.profiles import apply_user_event
from orders.entrypoints import lambda_entrypoint
from orders.settings import OrdersSettings
from shared.consumer import parse_sqs_record
from shared.events.envelope import utc_now

settings = OrdersSettings.load()
orders = orders_table(settings)
processor = BatchProcessor(event_type=EventType.SQS)


def apply_message(record: SQSRecord) -> None:
    # An event this service cannot read fails its record: after maxReceiveCount it rests in the DLQ.
    apply_user_event(parse_sqs_record(record), now=utc_now(), orders=orders)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=apply_message, processor=processor, context=context
    )
