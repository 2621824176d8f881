"""Outbox publisher: the users table's stream → the shared bus.

The event source mapping's filter delivers only the INSERTs of outbox items; the records whose
events could not be published come back as ``batchItemFailures``, so Lambda retries from the
first of them and no event is dropped.
"""

from __future__ import annotations

from typing import Any

import boto3

from shared.observability import logger, tracer
from shared.outbox import publish_stream_batch
from shared.publisher import EventPublisher
from shared.settings import Settings


class PublisherSettings(Settings):
    event_bus_name: str


settings = PublisherSettings.load()
publisher = EventPublisher(boto3.client("events", region_name=settings.aws_region), settings.event_bus_name)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish_stream_batch(event, publisher, settings.event_bus_name)
