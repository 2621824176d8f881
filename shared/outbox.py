"""The transactional outbox: an event is written in the same DynamoDB transaction as the change
it reports, and the table's stream publishes it to the bus.

A request handler never calls ``PutEvents``: it adds ``outbox_put(...)`` to its
``TransactWriteItems``. The stream consumer (``publish_stream_batch``) sends the new outbox items
to the bus, ten per call, and reports the records it could not publish as batch item failures,
so Lambda retries them (and DynamoDB Streams resumes from the lowest one). Events carry their own
id, so consumers deduplicate the at-least-once delivery. Outbox items expire through TTL.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.observability import logger
from shared.publisher import EventPublisher, PublishError

if TYPE_CHECKING:  # an annotation only: the stream publishers never load the event models
    from shared.events.envelope import Envelope

OUTBOX_PREFIX = "OUTBOX#"
OUTBOX_SK = "EVENT"
RETENTION_SECONDS = 7 * 24 * 3600


def outbox_put(table_name: str, event: Envelope[Any], *, now: float | None = None) -> dict[str, Any]:
    """A ``TransactWriteItems`` element (low-level client shape) that records ``event``."""
    expires_at = int((now if now is not None else time.time()) + RETENTION_SECONDS)
    return {
        "Put": {
            "TableName": table_name,
            "Item": {
                "PK": {"S": OUTBOX_PREFIX + event.metadata.event_id},
                "SK": {"S": OUTBOX_SK},
                "source": {"S": event.source},
                "detail_type": {"S": event.detail_type},
                "detail": {"S": event.detail_json()},
                "correlation_id": {"S": event.metadata.correlation_id},
                "expires_at": {"N": str(expires_at)},
            },
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def outbox_entry(record: Mapping[str, Any], bus_name: str) -> dict[str, str] | None:
    """The ``PutEvents`` entry of a stream record that inserts an outbox item, else None."""
    if record.get("eventName") != "INSERT":
        return None
    image = record["dynamodb"].get("NewImage", {})
    if not image.get("PK", {}).get("S", "").startswith(OUTBOX_PREFIX):
        return None
    return {
        "EventBusName": bus_name,
        "Source": image["source"]["S"],
        "DetailType": image["detail_type"]["S"],
        "Detail": image["detail"]["S"],
    }


def publish_stream_batch(
    event: Mapping[str, Any], publisher: EventPublisher, bus_name: str
) -> dict[str, Any]:
    """Publish the outbox inserts of a DynamoDB stream batch; returns the partial batch response."""
    pending: list[tuple[str, dict[str, str]]] = []
    for record in event.get("Records", []):
        entry = outbox_entry(record, bus_name)
        if entry is not None:
            pending.append((record["dynamodb"]["SequenceNumber"], entry))
    try:
        publisher.put_entries([entry for _, entry in pending])
    except PublishError as error:
        failed = {id(f.entry) for f in error.failed}
        logger.error("outbox events not published", extra={"failed": len(failed), "error": str(error)})
        return {
            "batchItemFailures": [
                {"itemIdentifier": sequence} for sequence, entry in pending if id(entry) in failed
            ]
        }
    logger.info("outbox events published", extra={"count": len(pending)})
    return {"batchItemFailures": []}
