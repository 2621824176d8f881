"""What the notifications reliability tests share: events on the shared bus as their producers
publish them, and what the service leaves behind (e-mails SES accepted, notifications recorded)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import boto3
from moto.ses.models import ses_backends

from devtools.template import Stacks
from shared.events.envelope import Envelope
from shared.events.orders import OrderConfirmed
from shared.events.users import UserCreated


def publish(aws: Stacks, *envelopes: Envelope) -> None:
    """On the shared bus in one ``PutEvents`` call, as an outbox publisher sends them."""
    bus = aws.physical_name("bus", "EventBus")
    entries = [envelope.to_entry(bus) for envelope in envelopes]
    assert boto3.client("events").put_events(Entries=entries)["FailedEntryCount"] == 0


def user_created(user: str) -> Envelope:
    event = UserCreated(
        user_id=user, email=f"{user}@example.com", name=user.upper(), version=1, created_at=datetime.now(UTC)
    )
    return Envelope.wrap(event, correlation_id=f"corr-created-{user}")


def order_confirmed(user: str) -> Envelope:
    event = OrderConfirmed(
        order_id=f"o-{user}",
        user_id=user,
        currency="EUR",
        total=Decimal("42.50"),
        invoice_number=f"INV-{user}",
    )
    return Envelope.wrap(event, correlation_id=f"corr-confirmed-{user}")


def verify_sender(aws: Stacks, function_specs: dict) -> None:
    """The deliver function's sender as a verified SES identity, as deploying requires."""
    sender = function_specs["shop-notifications-dev-deliver"].environment["SENDER_EMAIL"]
    boto3.client("sesv2").create_email_identity(EmailIdentity=sender)


def emails_sent(aws: Stacks) -> Counter[tuple[str, str]]:
    """How many e-mails SES accepted, by (recipient, subject)."""
    sent = ses_backends[aws.account][aws.region].sent_messages
    return Counter((to, message.subject) for message in sent for to in message.destinations["ToAddresses"])


def notifications(aws: Stacks, user: str) -> list[dict]:
    """The notifications recorded for ``user`` (low-level items)."""
    return boto3.client("dynamodb").query(
        TableName=aws.physical_name("notifications", "NotificationsTable"),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":notif": {"S": "NOTIF#"}},
        ConsistentRead=True,
    )["Items"]
