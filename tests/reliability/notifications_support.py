"""What the notifications service leaves behind in the reliability tests: e-mails SES accepted,
notifications recorded."""

from __future__ import annotations

from collections import Counter

import boto3

from devtools.template import Stacks
from devtools.testkit.mailbox import sent_emails


def emails_sent(aws: Stacks) -> Counter[tuple[str, str]]:
    """How many e-mails SES accepted, by (recipient, subject)."""
    return Counter((to, email.subject) for email in sent_emails(aws) for to in email.to)


def notifications(aws: Stacks, user: str) -> list[dict]:
    """The notifications recorded for ``user`` (low-level items)."""
    return boto3.client("dynamodb").query(
        TableName=aws.physical_name("notifications", "NotificationsTable"),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":notif": {"S": "NOTIF#"}},
        ConsistentRead=True,
    )["Items"]
