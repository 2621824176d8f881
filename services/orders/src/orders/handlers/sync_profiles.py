"""Keeps the profile copy from the users service's events (bus rule → SQS → here); a deleted user's
open orders are cancelled."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orders.adapters.orders_table import OrdersTable
from orders.domain.profiles import apply_user_event
from orders.settings import OrdersSettings
from shared.consumer import parse_sqs_record
from shared.entrypoint import lambda_entrypoint
from shared.events.envelope import utc_now
from shared.profile_copy_table import DynamoProfileCopy

settings = OrdersSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)
orders = OrdersTable(dynamodb, settings.table_name)
profiles = DynamoProfileCopy(dynamodb, settings.table_name)
processor = BatchProcessor(event_type=EventType.SQS)


def apply_message(record: SQSRecord) -> None:
    # An event this service cannot read fails its record: after maxReceiveCount it rests in the DLQ.
    apply_user_event(parse_sqs_record(record), now=utc_now(), orders=orders, profiles=profiles)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=apply_message, processor=processor, context=context
    )
