"""Events on the shared bus: published as an outbox publisher sends them, and as EventBridge
delivers them to a target (the shape a rule's queue carries in an SQS message body)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from devtools.template import Stacks
from shared.events.envelope import Envelope

PUT_EVENTS_ENTRIES = 10  # PutEvents takes 10 entries a call


def publish(stacks: Stacks, *envelopes: Envelope) -> None:
    """On the shared bus, ten a ``PutEvents`` call, as an outbox publisher sends them."""
    bus = stacks.physical_name("bus", "EventBus")
    entries = [envelope.to_entry(bus) for envelope in envelopes]
    events = boto3.client("events")
    for start in range(0, len(entries), PUT_EVENTS_ENTRIES):
        batch = entries[start : start + PUT_EVENTS_ENTRIES]
        response = events.put_events(Entries=batch)
        if response["FailedEntryCount"]:
            raise RuntimeError(f"PutEvents refused entries: {response['Entries']}")


def eventbridge_event(
    envelope: Envelope, *, account: str = "000000000000", region: str = "us-east-1"
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),  # EventBridge's own id; ours is metadata.event_id
        "detail-type": envelope.detail_type,
        "source": envelope.source,
        "account": account,
        "time": envelope.metadata.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": json.loads(envelope.detail_json()),
    }
