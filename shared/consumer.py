"""The consumers of queues: bus events (a rule feeds a queue, the queue a Lambda:
``event_consumer``), or a service's own messages (``queue_consumer``).

An event's record is parsed into an ``Envelope`` whose ``data`` is the registered model for
``(detail-type, metadata.event_version)``, and the chain's correlation id is bound to the logger.

One rejection policy for every consumer: a record that no retry can fix (not JSON, not a known
event, invalid, or an event this consumer does not consume; a service's own message its parser
cannot read: ``EventRejected``, raised by parsing or by the domain) is put in the dead-letter
queue at once with its reason and reported done, so it never blocks the queue nor costs
``maxReceiveCount`` deliveries. Any other failure fails its
record alone (``ReportBatchItemFailures``): SQS delivers it again, and after the queue's
``maxReceiveCount`` its redrive policy moves it to the same dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from shared.dead_letters import DeadLetterQueue
from shared.entrypoint import Handler, lambda_entrypoint
from shared.events.envelope import Envelope
from shared.events.errors import EventRejected, InvalidEvent, UnknownEvent, UnsupportedEvent
from shared.events.registry import model_for
from shared.observability import bind_correlation_id, logger, metrics
from shared.partial_batch import PartialBatchResponse, process_batch, sqs_message_id

__all__ = [
    "EventRejected",
    "InvalidEvent",
    "UnknownEvent",
    "UnsupportedEvent",
    "event_consumer",
    "parse_eventbridge_event",
    "parse_sqs_record",
    "queue_consumer",
]

_EVENT_KEYS = ["correlation_id", "event_id", "detail_type"]


def parse_eventbridge_event(event: Mapping[str, Any]) -> Envelope[Any]:
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
        envelope: Envelope[Any] = Envelope[model].model_validate(detail)  # type: ignore[valid-type]
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        raise InvalidEvent(f"invalid {detail_type} v{version}: {fields}") from None
    bind_correlation_id(envelope.metadata.correlation_id)
    logger.append_keys(event_id=envelope.metadata.event_id, detail_type=detail_type)
    return envelope


def parse_sqs_record(record: Mapping[str, Any] | Any) -> Envelope[Any]:
    """An SQS record (the raw dict or Powertools' ``SQSRecord``) whose body is an EventBridge event."""
    body = record["body"] if isinstance(record, Mapping) else record.body
    try:
        event = json.loads(body)
    except (TypeError, ValueError):
        raise InvalidEvent("SQS message body is not JSON") from None
    if not isinstance(event, Mapping):
        raise InvalidEvent("SQS message body is not a JSON object")
    return parse_eventbridge_event(event)


def queue_consumer[M](
    parse: Callable[[SQSRecord], M], handle: Callable[[M, Any], object], *, dead_letters: DeadLetterQueue
) -> Handler:
    """The Lambda handler of a queue: ``handle(parse(record), lambda_context)`` per record, under
    the rejection policy above (``parse`` raises ``EventRejected`` for a message it cannot read).
    The failures are logged record by record; a batch whose every record failed raises (see
    ``shared.partial_batch``)."""

    def handle_record(record: SQSRecord, lambda_context: Any) -> None:
        logger.remove_keys(_EVENT_KEYS)  # the previous record's event must not tag this one's logs
        logger.append_keys(message_id=record.message_id)
        try:
            handle(parse(record), lambda_context)
        except EventRejected as rejected:
            dead_letters.put(record.body, reason=str(rejected), message_id=record.message_id)
            logger.warning("message rejected, kept in the dead-letter queue", extra={"reason": str(rejected)})
            metrics.add_metric(name="EventRejected", unit=MetricUnit.Count, value=1)
        except Exception:
            logger.exception("record failed, SQS will deliver it again")
            raise

    @lambda_entrypoint
    def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
        return process_batch(event, lambda record: handle_record(SQSRecord(record), context), sqs_message_id)

    return handler


def event_consumer(
    handle: Callable[[Envelope[Any], Any], object], *, dead_letters: DeadLetterQueue
) -> Handler:
    """The Lambda handler of a queue of bus events (a rule's target): ``handle(envelope, context)``."""
    return queue_consumer(parse_sqs_record, handle, dead_letters=dead_letters)
