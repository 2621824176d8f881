"""What the notifications service knows: the notifications it sends (its copy of user profiles is
``shared.profile_copy``'s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Channel(StrEnum):
    EMAIL = "email"


class Status(StrEnum):
    PENDING = "pending"  # recorded, not (yet) accepted by the mail service
    SENT = "sent"


class Outcome(StrEnum):
    """What handling one event did; each value is also the name of the metric that counts it."""

    SENT = "NotificationSent"
    DUPLICATE = "DuplicateEventIgnored"
    RECIPIENT_DELETED = "DeletedRecipientSkipped"
    PROFILE_COPIED = "ProfileCopied"


class Notification(BaseModel):
    """One notification, as recorded and as the HTTP API returns it."""

    model_config = ConfigDict(frozen=True)

    id: str  # a ULID: later notifications sort after earlier ones
    user_id: str
    event_id: str  # the event that caused it; one notification per event at most
    channel: Channel
    template: str
    values: dict[str, str]  # what the template was rendered with
    status: Status
    created_at: datetime
    sent_at: datetime | None = None


class NotificationPage(BaseModel):
    notifications: list[Notification]
    next_cursor: str | None


@dataclass(frozen=True)
class Claim:
    """The right to send one notification, held until ``lease_until`` by the holder of ``token``."""

    notification: Notification
    token: str
    lease_until: datetime


class AlreadySent(Exception):
    """The event's notification was sent by an earlier delivery."""


class DeliveryInProgress(Exception):
    """Another delivery of the same event holds the claim; retry once its lease has expired."""


class RecipientUnknown(Exception):
    """No profile copy for the user yet (its user event has not arrived); retry later."""
