"""How the notifications table is laid out (one table, generic keys).

==================  ================  ==================================================
PK                  SK                item
==================  ================  ==================================================
``USER#<id>``       ``PROFILE``       the profile copy kept from user events
``USER#<id>``       ``NOTIF#<ulid>``  one notification (ULIDs sort newest last)
``EVENT#<id>``      ``EVENT``         the dedupe item of one event: claim, lease, status
==================  ================  ==================================================
"""

from __future__ import annotations

from datetime import UTC, datetime

PROFILE_SK = "PROFILE"
NOTIFICATION_PREFIX = "NOTIF#"
EVENT_SK = "EVENT"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


def timestamp(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so that DynamoDB compares them correctly as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)
