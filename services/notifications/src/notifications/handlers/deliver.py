"""The SQS consumer: each record is one event from the bus (rule → queue → this function), under
the rejection policy of ``shared.consumer.event_consumer``: an event no retry can fix goes to the
dead-letter queue at once with its reason; a failure to send fails its record alone."""

from __future__ import annotations

from datetime import timedelta

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications.adapters.mailer import SesMailer
from notifications.adapters.notification_log import DynamoNotificationLog
from notifications.domain.service import handle_event
from shared.consumer import event_consumer
from shared.dead_letters import DeadLetterQueue
from shared.events.envelope import Envelope, utc_now
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
profiles = DynamoProfileCopy(dynamodb, settings.table_name)
log = DynamoNotificationLog(dynamodb, settings.table_name)
mailer = SesMailer(boto3.client("sesv2", region_name=settings.aws_region), settings.sender_email)


def deliver(envelope: Envelope, lambda_context: LambdaContext) -> None:
    # A claim on the event may last as long as this invocation can (Lambda stops it after).
    lease = timedelta(milliseconds=lambda_context.get_remaining_time_in_millis())
    outcome = handle_event(envelope, lease=lease, clock=utc_now, profiles=profiles, log=log, mailer=mailer)
    logger.info("event handled", extra={"outcome": outcome.name})
    metrics.add_metric(name=outcome.value, unit=MetricUnit.Count, value=1)


handler = event_consumer(
    deliver,
    dead_letters=DeadLetterQueue(
        boto3.client("sqs", region_name=settings.aws_region), settings.dead_letter_queue_name
    ),
)
