"""Handling one consumed event: keep the profile copy, or send and record one notification.

Exactly-once effects per event id, with a mail service that cannot take part in a transaction:

1. ``claim``: one DynamoDB transaction writes the notification (``pending``) and the event's
   dedupe item, conditional on the dedupe item not existing, with a lease that ends when this
   invocation must have ended (Lambda's remaining time). A second delivery of the event, however
   it comes (SQS redelivery, a duplicate from EventBridge, an archive replay, a DLQ redrive),
   finds the dedupe item: it does nothing once the mail went out, and retries later while the
   lease runs. Two deliveries can therefore never send at the same time.
2. ``send`` through the mail service. If it fails, the claim is released and the record retried
   (then dead-lettered): nothing is lost, and the notification keeps its id and values.
3. ``mark_sent`` in one transaction on both items.

A crash between 1 and 2 leaves a pending claim: once its lease is over the next delivery takes it
over and sends, so the mail is not lost. The one window left is a crash after the mail service
accepted the mail and before step 3 is written (a few milliseconds): the next delivery cannot
tell and sends again. We chose that side on purpose: SES offers no idempotency key, and a second
copy of an order e-mail is cheaper than a missing one. Nothing is ever recorded twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from notifications.domain.models import (
    AlreadySent,
    Channel,
    Notification,
    Outcome,
    RecipientUnknown,
    Status,
)
from notifications.domain.ports import Mailer, NotificationLog
from notifications.domain.templates import render
from shared.events.envelope import Envelope, new_id
from shared.events.errors import UnsupportedEvent
from shared.events.orders import OrderCancelled, OrderConfirmed, OrderFailed
from shared.events.users import UserCreated, UserDeleted, UserUpdated
from shared.profile_copy import ProfileCopies, ProfileCopy, profile_change

CONSUMED_EVENTS = (UserCreated, UserUpdated, UserDeleted, OrderConfirmed, OrderFailed, OrderCancelled)
"""Every event this service reads; its EventBridge rules route exactly these (a test checks)."""


def handle_event(
    envelope: Envelope[Any],
    *,
    lease: timedelta,
    clock: Callable[[], datetime],
    profiles: ProfileCopies,
    log: NotificationLog,
    mailer: Mailer,
) -> Outcome:
    """Apply one event. ``lease`` is how long this attempt may hold a claim on the event; ``clock``
    (not one ``now``) because the mail is sent between the claim and its record."""
    event, event_id = envelope.data, envelope.metadata.event_id
    notify = functools.partial(_notify, event_id=event_id, lease=lease, clock=clock, log=log, mailer=mailer)
    match event:
        case UserCreated():
            # The copy as it stands: this event's address, unless a later change superseded it.
            return notify(profiles.save(profile_change(event)), "welcome", {})
        case UserUpdated() | UserDeleted():
            profiles.save(profile_change(event))
            return Outcome.PROFILE_COPIED
        case OrderConfirmed() | OrderFailed() | OrderCancelled():
            template, values = order_message(event)
            return notify(_recipient(event.user_id, profiles), template, values)
    raise UnsupportedEvent(f"{envelope.detail_type} v{event.event_version} is not consumed here")


def _recipient(user_id: str, profiles: ProfileCopies) -> ProfileCopy:
    profile = profiles.get(user_id, consistent=True)
    if profile is None:
        raise RecipientUnknown(f"no profile copy for user {user_id} yet")
    return profile


def _notify(
    recipient: ProfileCopy,
    template: str,
    values: dict[str, str],
    *,
    event_id: str,
    lease: timedelta,
    clock: Callable[[], datetime],
    log: NotificationLog,
    mailer: Mailer,
) -> Outcome:
    if recipient.deleted or not recipient.email:
        return Outcome.RECIPIENT_DELETED
    now = clock()
    notification = Notification(
        id=new_id(),
        user_id=recipient.user_id,
        event_id=event_id,
        channel=Channel.EMAIL,
        template=template,
        values={"name": recipient.name or "", **values},
        status=Status.PENDING,
        created_at=now,
    )
    try:
        claim = log.claim(notification, lease_until=now + lease, now=now)
    except AlreadySent:
        return Outcome.DUPLICATE
    # A claim taken over carries the notification recorded first: send what was recorded.
    email = render(claim.notification.template, claim.notification.values)
    try:
        message_id = mailer.send(recipient.email, email)
    except Exception as error:
        log.release(claim, error=f"{type(error).__name__}: {error}")
        raise
    log.mark_sent(claim, message_id=message_id, sent_at=clock())
    return Outcome.SENT


def order_message(event: OrderConfirmed | OrderFailed | OrderCancelled) -> tuple[str, dict[str, str]]:
    """The template and values of the e-mail that tells the customer how an order ended."""
    match event:
        case OrderConfirmed():
            return "order_confirmed", {
                "order_id": event.order_id,
                "total": f"{event.total:.2f}",
                "currency": event.currency,
                "invoice_number": event.invoice_number,
            }
        case OrderFailed():
            return "order_failed", {"order_id": event.order_id, "reason": event.reason}
        case OrderCancelled():
            return "order_cancelled", {"order_id": event.order_id, "reason": event.reason}
