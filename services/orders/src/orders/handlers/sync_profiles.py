"""Keeps the profile copy from the users service's events (bus rule → SQS → here); a deleted user's
open orders are cancelled. Unreadable events: the policy of ``shared.consumer.event_consumer``."""

from __future__ import annotations

from typing import Any

import boto3

from orders.adapters.orders_table import OrdersTable
from orders.domain.profiles import apply_user_event
from orders.settings import ConsumerSettings
from shared.consumer import event_consumer
from shared.dead_letters import DeadLetterQueue
from shared.events.envelope import Envelope, utc_now
from shared.profile_copy_table import DynamoProfileCopy

settings = ConsumerSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)
orders = OrdersTable(dynamodb, settings.table_name)
profiles = DynamoProfileCopy(dynamodb, settings.table_name)


def apply(envelope: Envelope, lambda_context: Any) -> None:
    apply_user_event(envelope, now=utc_now(), orders=orders, profiles=profiles)


handler = event_consumer(
    apply,
    dead_letters=DeadLetterQueue(
        boto3.client("sqs", region_name=settings.aws_region), settings.dead_letter_queue_name
    ),
)
