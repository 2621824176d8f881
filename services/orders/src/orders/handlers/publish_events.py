"""Publishes the outbox items of the orders table's stream to the bus."""

from __future__ import annotations

from typing import Any

import boto3

from orders.entrypoints import lambda_entrypoint
from orders.settings import PublisherSettings
from shared.outbox import publish_stream_batch
from shared.publisher import EventPublisher

settings = PublisherSettings.load()
publisher = EventPublisher(boto3.client("events", region_name=settings.aws_region), settings.event_bus_name)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish_stream_batch(event, publisher, settings.event_bus_name)
