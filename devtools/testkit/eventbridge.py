"""Events as EventBridge delivers them to a target (tests and samples): the shape a rule's queue
carries in an SQS message body."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.events.envelope import Envelope


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
