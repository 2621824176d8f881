"""The profile copy, kept from the users service's events (event-carried state transfer)."""

from __future__ import annotations

from datetime import datetime

from orders.domain.cancelling import cancel_open_orders
from orders.domain.model import Profile
from orders.domain.ports import OrderRepository
from shared.events.envelope import Envelope
from shared.events.users import UserCreated, UserDeleted, UserUpdated


def apply_user_event(envelope: Envelope, *, now: datetime, orders: OrderRepository) -> None:
    """Idempotent under redelivery and reordering: a profile version is applied once, older ones
    never overwrite newer ones, and a deleted user stays deleted."""
    data = envelope.data
    if isinstance(data, UserCreated | UserUpdated):
        changed_at = data.created_at if isinstance(data, UserCreated) else data.updated_at
        orders.save_profile(
            Profile(
                user_id=data.user_id,
                email=data.email,
                name=data.name,
                version=data.version,
                updated_at=changed_at,
            )
        )
    elif isinstance(data, UserDeleted):
        orders.mark_profile_deleted(data.user_id, data.deleted_at)
        cancel_open_orders(
            data.user_id, correlation_id=envelope.metadata.correlation_id, now=now, orders=orders
        )
    else:
        raise TypeError(f"not a user event: {envelope.detail_type}")
