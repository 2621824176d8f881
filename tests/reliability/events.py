"""The events the reliability tests publish, as their producers wrap them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.events.envelope import Envelope
from shared.events.orders import OrderConfirmed
from shared.events.users import UserCreated


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
