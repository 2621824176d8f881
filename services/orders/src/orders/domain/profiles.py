"""The profile copy, kept from the users service's events (event-carried state transfer) by the
rule every consumer shares (``shared.profile_copy``); a deleted user's open orders are cancelled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orders.domain.cancelling import cancel_open_orders
from orders.domain.ports import OrderRepository
from shared.events.envelope import Envelope
from shared.events.errors import UnsupportedEvent
from shared.events.users import UserCreated, UserDeleted, UserUpdated
from shared.profile_copy import ProfileCopies, profile_change


def apply_user_event(
    envelope: Envelope[Any],
    *,
    now: datetime,
    orders: OrderRepository,
    profiles: ProfileCopies,
) -> None:
    """Idempotent under redelivery and reordering (the shared rule). A deletion cancels the open
    orders of the life it ended, again when redelivered (a crash may have stopped the first
    attempt half-way), but not those of a later life (a deletion that arrives after the re-creation)."""
    data = envelope.data
    if not isinstance(data, UserCreated | UserUpdated | UserDeleted):
        raise UnsupportedEvent(f"{envelope.detail_type} is not a user event")
    change = profile_change(data)
    copy = profiles.save(change)
    if isinstance(data, UserDeleted) and copy.deleted and copy.changed_at == change.changed_at:
        cancel_open_orders(
            data.user_id, correlation_id=envelope.metadata.correlation_id, now=now, orders=orders
        )
