"""What the domain needs from the outside world; adapters/ implements it over AWS, tests in memory."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notifications.domain.models import Claim, Notification, NotificationPage
from notifications.domain.templates import Email


class NotificationLog(Protocol):
    def claim(self, notification: Notification, *, lease_until: datetime, now: datetime) -> Claim:
        """Record ``notification`` (pending) and claim its event, in one atomic step.

        An event claimed before is not recorded twice: ``AlreadySent`` if its notification went
        out, ``DeliveryInProgress`` while another delivery's lease runs; once that lease has
        expired, the claim is taken over and carries the notification recorded the first time.
        """
        ...

    def release(self, claim: Claim, *, error: str) -> None:
        """Give up ``claim`` after a failed send, so the next delivery may take it over at once."""
        ...

    def mark_sent(self, claim: Claim, *, message_id: str, sent_at: datetime) -> None: ...

    def page(self, user_id: str, *, limit: int, cursor: str | None) -> NotificationPage:
        """A user's notifications, newest first; raises ``InvalidCursor`` for a foreign cursor."""
        ...


class Mailer(Protocol):
    def send(self, to: str, email: Email) -> str:
        """Hand ``email`` to the mail service; returns its message id."""
        ...
