"""Starts the fulfilment state machine for each order inserted in the orders table (its stream)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

from orders.adapters.fulfilment_workflow import StepFunctionsStarter
from orders.adapters.orders_table import is_order_insert, order_from_item
from orders.settings import StarterSettings
from shared.entrypoint import lambda_entrypoint
from shared.observability import bind_correlation_id, logger
from shared.partial_batch import PartialBatchResponse, process_batch, stream_sequence_number

settings = StarterSettings.load()
starter = StepFunctionsStarter(
    boto3.client("stepfunctions", region_name=settings.aws_region), settings.state_machine_arn
)


def start(record: Mapping[str, Any]) -> None:
    if not is_order_insert(record):
        return
    order = order_from_item(record["dynamodb"]["NewImage"])
    bind_correlation_id(order.correlation_id)
    started = starter.start(order)
    logger.info(
        "fulfilment started" if started else "fulfilment was started before",
        extra={"order_id": order.order_id},
    )


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
    return process_batch(event, start, stream_sequence_number)
