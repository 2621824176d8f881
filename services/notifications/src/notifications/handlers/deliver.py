"""The SQS consumer: each record is one event from the bus (rule → queue → this function).

Records are handled one by one and failures are reported per record (ReportBatchItemFailures):
a record that fails goes back to the queue alone, and lands in the dead-letter queue after the
queue's maxReceiveCount. A record that no retry can fix (not a known event, invalid, or an event
this service does not consume) is put in the dead-letter queue at once with its reason, and
reported as done, so it never blocks the queue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications.adapters.dead_letters import DeadLetterQueue
from notifications.adapters.mailer import SesMailer
from notifications.adapters.notification_log import DynamoNotificationLog
from notifications.domain.models import UnsupportedEvent
from notifications.domain.service import NotificationService
from shared.consumer import EventRejected, parse_sqs_record
from shared.entrypoint import lambda_entrypoint
from shared.observability import logger, metrics
from shared.profile_copy_table import DynamoProfileCopy
from shared.settings import Settings
from shared.types import Email


class DeliverSettings(Settings):
    table_name: str
    sender_email: Email
    dead_letter_queue_name: str


settings = DeliverSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)
ses = boto3.client("sesv2", region_name=settings.aws_region)
sqs = boto3.client("sqs", region_name=settings.aws_region)
service = NotificationService(
    profiles=DynamoProfileCopy(dynamodb, settings.table_name),
    log=DynamoNotificationLog(dynamodb, settings.table_name),
    mailer=SesMailer(ses, settings.sender_email),
)
dead_letters = DeadLetterQueue(sqs, settings.dead_letter_queue_name)
# A batch whose every record failed is reported like any other (each record retried on its own),
# not raised: the failures are logged below, record by record.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

_EVENT_KEYS = ["correlation_id", "event_id", "detail_type"]


def deliver_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    logger.remove_keys(_EVENT_KEYS)  # the previous record's event must not tag this one's logs
    logger.append_keys(message_id=record.message_id)
    try:
        # A claim on the event may last as long as this invocation can (Lambda stops it after).
        lease = timedelta(milliseconds=lambda_context.get_remaining_time_in_millis())
        outcome = service.handle(parse_sqs_record(record), lease=lease)
    except (EventRejected, UnsupportedEvent) as rejected:
        dead_letters.put(record.body, reason=str(rejected), message_id=record.message_id)
        logger.warning("message rejected, kept in the dead-letter queue", extra={"reason": str(rejected)})
        metrics.add_metric(name="EventRejected", unit=MetricUnit.Count, value=1)
        return
    except Exception:
        logger.exception("record failed, SQS will deliver it again")
        raise
    logger.info("event handled", extra={"outcome": outcome.name})
    metrics.add_metric(name=outcome.value, unit=MetricUnit.Count, value=1)


@lambda_entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=deliver_record, processor=processor, context=context
    )
