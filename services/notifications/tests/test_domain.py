"""The domain without AWS: what each event sends to whom, and the claim protocol as the service
drives it (in-memory ports). Which profile change wins: tests/shared/test_profile_copy.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from notifications.domain.models import (
    AlreadySent,
    Claim,
    DeliveryInProgress,
    Notification,
    Outcome,
    RecipientUnknown,
    Status,
)
from notifications.domain.service import handle_event
from notifications.domain.templates import TEMPLATES, Email, render
from shared.events.envelope import Envelope
from shared.events.errors import UnsupportedEvent
from shared.events.orders import OrderPlaced
from shared.profile_copy import ProfileChange, ProfileCopy, apply_change

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def test_every_template_renders_one_line_subjects():
    values = {
        "name": "Ann\r\nBcc: evil@example.com",
        "order_id": "o1",
        "total": "1.00",
        "currency": "EUR",
        "invoice_number": "INV-1",
        "reason": "r",
    }
    for template in TEMPLATES:
        email = render(template, values)
        assert "\n" not in email.subject
        assert "\r" not in email.subject
        assert "$" not in email.body


# -- the service with in-memory ports ----------------------------------------------------------


class MemoryProfiles:
    def __init__(self) -> None:
        self.copies: dict[str, ProfileCopy] = {}

    def save(self, change: ProfileChange) -> ProfileCopy:
        copy = self.copies[change.user_id] = apply_change(self.copies.get(change.user_id), change)
        return copy

    def get(self, user_id: str, *, consistent: bool = False) -> ProfileCopy | None:
        return self.copies.get(user_id)


@dataclass
class Held:
    notification: Notification
    token: str
    lease_until: datetime
    status: Status = Status.PENDING
    error: str | None = None


class MemoryLog:
    """The claim protocol of ``NotificationLog`` (the DynamoDB one is tested in test_adapters)."""

    def __init__(self) -> None:
        self.held: dict[str, Held] = {}
        self.tokens = (f"token-{n}" for n in range(1000))

    def claim(self, notification: Notification, *, lease_until: datetime, now: datetime) -> Claim:
        held = self.held.get(notification.event_id)
        if held is None:
            held = self.held[notification.event_id] = Held(notification, next(self.tokens), lease_until)
        elif held.status is Status.SENT:
            raise AlreadySent(notification.event_id)
        elif held.lease_until > now:
            raise DeliveryInProgress(notification.event_id)
        else:
            held.token, held.lease_until = next(self.tokens), lease_until
        return Claim(held.notification, held.token, lease_until)

    def release(self, claim: Claim, *, error: str) -> None:
        held = self.held[claim.notification.event_id]
        assert held.token == claim.token
        held.lease_until, held.error = datetime.min.replace(tzinfo=UTC), error

    def mark_sent(self, claim: Claim, *, message_id: str, sent_at: datetime) -> None:
        held = self.held[claim.notification.event_id]
        assert held.token == claim.token
        held.status = Status.SENT


@dataclass
class MemoryMailer:
    sent: list[tuple[str, Email]] = field(default_factory=list)
    failing: bool = False

    def send(self, to: str, email: Email) -> str:
        if self.failing:
            raise ConnectionError("SES unreachable")
        self.sent.append((to, email))
        return f"message-{len(self.sent)}"


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world():
    profiles, log, mailer, clock = MemoryProfiles(), MemoryLog(), MemoryMailer(), Clock()
    service = functools.partial(handle_event, clock=clock, profiles=profiles, log=log, mailer=mailer)
    return service, profiles, log, mailer, clock


def test_user_created_sends_the_welcome_to_the_events_address(world, events):
    service, profiles, _, mailer, _ = world

    outcome = service(events.user_created(email="Ann@Example.com"), lease=LEASE)

    assert outcome is Outcome.SENT
    [(to, email)] = mailer.sent
    assert to == "ann@example.com"
    assert email.subject == "Welcome to the Shop, Ann"
    assert profiles.get("u1").email == "ann@example.com"


def test_order_outcomes_go_to_the_profile_copy_with_their_values(world, events):
    service, _, log, mailer, _ = world
    service(events.user_created(), lease=LEASE)
    service(events.user_updated(email="new@example.com"), lease=LEASE)

    confirmed = events.order_confirmed(order_id="o7")
    assert service(confirmed, lease=LEASE) is Outcome.SENT
    assert service(events.order_failed(order_id="o8"), lease=LEASE) is Outcome.SENT
    assert service(events.order_cancelled(order_id="o9"), lease=LEASE) is Outcome.SENT

    assert [to for to, _ in mailer.sent[1:]] == ["new@example.com"] * 3
    assert log.held[confirmed.metadata.event_id].notification.values == {
        "name": "Ann",
        "order_id": "o7",
        "total": "42.50",
        "currency": "EUR",
        "invoice_number": "INV-o7",
    }
    assert "42.50 EUR" in mailer.sent[1][1].body
    assert [email.subject for _, email in mailer.sent[2:]] == [
        "Your order o8 could not be completed",
        "Your order o9 was cancelled",
    ]


def test_a_redelivered_event_sends_nothing_twice(world, events):
    service, _, _, mailer, _ = world
    created = events.user_created()

    assert service(created, lease=LEASE) is Outcome.SENT
    assert service(created, lease=LEASE) is Outcome.DUPLICATE
    assert len(mailer.sent) == 1


def test_a_deleted_user_gets_nothing_even_from_a_late_user_created(world, events):
    service, profiles, log, mailer, _ = world
    created = events.user_created(at=T0)
    service(events.user_deleted(at=T0 + timedelta(minutes=5)), lease=LEASE)

    assert service(created, lease=LEASE) is Outcome.RECIPIENT_DELETED
    assert service(events.order_confirmed(), lease=LEASE) is Outcome.RECIPIENT_DELETED
    assert mailer.sent == []
    assert log.held == {}
    assert profiles.get("u1").email is None


def test_an_order_event_before_its_user_is_retried(world, events):
    service, _, log, mailer, _ = world
    with pytest.raises(RecipientUnknown):
        service(events.order_confirmed(user_id="nobody"), lease=LEASE)
    assert mailer.sent == []
    assert log.held == {}


def test_a_failed_send_releases_the_claim_and_the_retry_sends_what_was_recorded(world, events):
    service, profiles, log, mailer, _ = world
    service(events.user_created(), lease=LEASE)
    confirmed = events.order_confirmed()
    mailer.failing = True

    with pytest.raises(ConnectionError):
        service(confirmed, lease=LEASE)
    held = log.held[confirmed.metadata.event_id]
    assert held.status is Status.PENDING
    assert held.error == "ConnectionError: SES unreachable"
    first_id = held.notification.id

    mailer.failing = False
    profiles.copies["u1"] = profiles.copies["u1"].model_copy(update={"name": "Renamed", "version": 9})
    assert service(confirmed, lease=LEASE) is Outcome.SENT  # at once: the claim was released

    assert log.held[confirmed.metadata.event_id].notification.id == first_id
    assert mailer.sent[-1][1].body.startswith("Hello Ann,")  # the values recorded first
    assert len(mailer.sent) == 2


def test_a_claim_held_by_a_live_delivery_waits_and_an_expired_one_is_taken_over(world, events):
    service, _, log, mailer, clock = world
    service(events.user_created(), lease=LEASE)
    confirmed = events.order_confirmed()
    # A delivery that claimed the event and crashed before sending.
    crashed = log.claim(
        Notification(
            id="01J00000000000000000000000",
            user_id="u1",
            event_id=confirmed.metadata.event_id,
            channel="email",
            template="order_confirmed",
            values={
                "name": "Ann",
                "order_id": "o1",
                "total": "1.00",
                "currency": "EUR",
                "invoice_number": "I",
            },
            status=Status.PENDING,
            created_at=T0,
        ),
        lease_until=T0 + LEASE,
        now=T0,
    )

    with pytest.raises(DeliveryInProgress):
        service(confirmed, lease=LEASE)
    assert len(mailer.sent) == 1

    clock.now = crashed.lease_until + timedelta(milliseconds=1)
    assert service(confirmed, lease=LEASE) is Outcome.SENT
    assert "1.00 EUR" in mailer.sent[-1][1].body
    assert log.held[confirmed.metadata.event_id].status is Status.SENT


def test_an_event_not_consumed_here_is_unsupported(world):
    service, *_ = world
    placed = OrderPlaced(
        order_id="o1",
        user_id="u1",
        items=[{"sku": "s", "quantity": 1, "unit_price": "1.00"}],
        currency="EUR",
        total="1.00",
    )
    with pytest.raises(UnsupportedEvent, match="OrderPlaced v1"):
        service(Envelope.wrap(placed, correlation_id="c"), lease=LEASE)
