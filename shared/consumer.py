"""Turning what a consumer receives into a typed, validated event.

A consumer gets an EventBridge event directly, or an SQS record whose body is one (rule → queue
→ Lambda). Either way the result is an ``Envelope`` whose ``data`` is the registered model for
``(detail-type, metadata.event_version)``; anything else raises ``EventRejected`` with a reason
fit for a log line or a DLQ attribute. The chain's correlation id is bound to the logger.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.events.envelope import Envelope
from shared.events.registry import model_for
from shared.observability import bind_correlation_id, logger


class EventRejected(ValueError):
    """The message is not an event this system can read; retrying will not change that."""


class UnknownEvent(EventRejected):
    pass


class InvalidEvent(EventRejected):
    pass


def parse_eventbridge_event(event: Mapping[str, Any]) -> Envelope:
    try:
        detail_type = event["detail-type"]
        source = event["source"]
        detail = event["detail"]
        version = detail["metadata"]["event_version"]
    except (KeyError, TypeError) as error:
        raise InvalidEvent(f"not an EventBridge event with an envelope: missing {error}") from None
    model = model_for(detail_type, version) if isinstance(version, int) else None
    if model is None:
        raise UnknownEvent(f"unknown event {source}/{detail_type} v{version}")
    if source != model.source:
        raise UnknownEvent(f"{detail_type} from unexpected source {source!r}")
    try:
        envelope = Envelope[model].model_validate(detail)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        raise InvalidEvent(f"invalid {detail_type} v{version}: {fields}") from None
    bind_correlation_id(envelope.metadata.correlation_id)
    logger.append_keys(event_id=envelope.metadata.event_id, detail_type=detail_type)
    return envelope


def parse_sqs_record(record: Mapping[str, Any] | Any) -> Envelope:
    """An SQS record (the raw dict or Powertools' ``SQSRecord``) whose body is an EventBridge event."""
    body = record["body"] if isinstance(record, Mapping) else record.body
    try:
        event = json.loads(body)
    except (TypeError, ValueError):
        raise InvalidEvent("SQS message body is not JSON") from None
    if not isinstance(event, Mapping):
        raise InvalidEvent("SQS message body is not a JSON object")
    return parse_eventbridge_event(event)
