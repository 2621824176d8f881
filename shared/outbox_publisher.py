"""The outbox publisher's Lambda handler: a service that owns a table declares a function with
``handler: shared/outbox_publisher.handler`` on its table's stream (filtered to the outbox
inserts), ``EVENT_BUS_NAME`` set, and its on-failure queue; it writes no code of its own.

The records whose events could not be published come back as ``batchItemFailures``, so Lambda
retries from the first of them and no event is dropped (``shared.outbox.publish_stream_batch``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Self

import boto3

from shared.entrypoint import lambda_entrypoint
from shared.outbox import publish_stream_batch
from shared.publisher import EventPublisher


@dataclass(frozen=True)
class PublisherSettings:
    """Two strings, read without ``shared.settings``: nothing else on this function's path imports
    pydantic, whose import alone is about a third of boto3's (docs/performance.md)."""

    event_bus_name: str
    aws_region: str

    @classmethod
    def load(cls) -> Self:
        return cls(os.environ["EVENT_BUS_NAME"], os.environ.get("AWS_REGION", "us-east-1"))


settings = PublisherSettings.load()
publisher = EventPublisher(boto3.client("events", region_name=settings.aws_region), settings.event_bus_name)


@lambda_entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return publish_stream_batch(event, publisher, settings.event_bus_name)
