"""Starts the fulfilment state machine for each order inserted in the orders table (its stream)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from orders.adapters.fulfilment_workflow import StepFunctionsStarter
from orders.adapters.orders_table import is_order_insert, order_from_item
from orders.settings import StarterSettings
from shared.entrypoint import lambda_entrypoint
from shared.observability import bind_correlation_id, logger

settings = StarterSettings.load()
starter = StepFunctionsStarter(
    boto3.client("stepfunctions", region_name=settings.aws_region), settings.state_machine_arn
)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def start(record: DynamoDBRecord) -> None:
    if not is_order_insert(record.raw_event):
        return
    order = order_from_item(record.raw_event["dynamodb"]["NewImage"])
    bind_correlation_id(order.correlation_id)
    started = starter.start(order)
    logger.info(
        "fulfilment started" if started else "fulfilment was started before",
        extra={"order_id": order.order_id},
    )


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=start, processor=processor, context=context)
