"""The outbox publisher's Lambda handler: a service that owns a table declares a function with
``handler: shared/outbox_publisher.handler`` on its table's stream (filtered to the outbox
inserts), ``EVENT_BUS_NAME`` set, and its on-failure queue; it writes no code of its own.

The records whose events could not be published come back as ``batchItemFailures``, so Lambda
retries from the first of them and no event is dropped (``shared.outbox.publish_stream_batch``).
"""

from __future__ import annotations

from typing import Any

import boto3

from shared.entrypoint import lambda_entrypoint
from shared.outbox import publish_stream_batch
from shared.publisher import EventPublisher
from shared.settings import Settings


class PublisherSettings(Settings):
    event_bus_name: str


settings = PublisherSettings.load()
publisher = EventPublisher(boto3.client("events", region_name=settings.aws_region), settings.event_bus_name)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish_stream_batch(event, publisher, settings.event_bus_name)
