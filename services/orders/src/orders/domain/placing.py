"""Placing an order: accepted by the API into the intake queue, then recorded by the intake consumer."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from orders.domain.cancelling import USER_DELETED
from orders.domain.model import NewOrder, NoProfile, Order, OrderLine, OrderStatus
from orders.domain.ports import IntakeQueue, OrderRepository, Recorded
from shared.events.envelope import Envelope, new_id
from shared.events.orders import OrderCancelled, OrderPlaced
from shared.profile_copy import ProfileCopies


def accept_order(
    user_id: str,
    items: list[OrderLine],
    currency: str,
    payment_token: str,
    *,
    correlation_id: str,
    now: datetime,
    hold_until: datetime,
    orders: OrderRepository,
    profiles: ProfileCopies,
    intake: IntakeQueue,
    idempotency_key: str | None = None,
) -> str:
    """Check the user may order and queue the order; it is recorded asynchronously. Returns its id.

    With an Idempotency-Key the order is named before it is queued (the key's claim), so every
    answer for the key names one order: a replay once it is queued answers its id and queues
    nothing; a replay while the first request may still be queueing it is ``KeyInFlight``; a
    retry after the first one died (past its ``hold_until``: the end of its invocation) queues that
    same order again, which the intake records once (its id is the order's key).
    """
    profile = profiles.get(user_id)
    if profile is None or not profile.is_active:
        raise NoProfile(user_id)
    new = NewOrder(
        order_id=new_id(),
        user_id=user_id,
        items=items,
        currency=currency,
        payment_token=payment_token,
        correlation_id=correlation_id,
        placed_at=now,
    )
    if idempotency_key is None:
        intake.send(new)
        return new.order_id
    fingerprint = order_fingerprint(items, currency, payment_token)
    claim = orders.claim_key(
        user_id, idempotency_key, new.order_id, fingerprint, now=now, hold_until=hold_until
    )
    if not claim.queued:
        intake.send(new.model_copy(update={"order_id": claim.order_id}))
        orders.key_queued(user_id, idempotency_key, claim.order_id)
    return claim.order_id


def record_order(new: NewOrder, *, now: datetime, orders: OrderRepository) -> Recorded:
    """Write the order with its ``OrderPlaced`` event; a redelivered (or re-queued) message changes
    nothing. When the user was deleted since the API accepted it, the order is recorded CANCELLED
    with its reason and ``OrderCancelled`` instead, as the deletion cancelled the user's other open
    orders: the caller holding its id reads how it ended."""
    order = Order.place(new)
    placed = OrderPlaced(
        order_id=order.order_id,
        user_id=order.user_id,
        items=order.items,
        currency=order.currency,
        total=order.total,
    )
    event = Envelope.wrap(placed, correlation_id=new.correlation_id)
    recorded = orders.add_order(order, event, while_profile_active=True)
    if recorded is not Recorded.USER_GONE:
        return recorded
    cancelled = order.transition(OrderStatus.CANCELLED, now, USER_DELETED)
    cancellation = OrderCancelled(order_id=order.order_id, user_id=order.user_id, reason=USER_DELETED)
    cancelled_event = Envelope.wrap(cancellation, correlation_id=new.correlation_id)
    if orders.add_order(cancelled, cancelled_event, while_profile_active=False) is Recorded.ALREADY_RECORDED:
        return Recorded.ALREADY_RECORDED
    return Recorded.USER_GONE


def order_fingerprint(items: list[OrderLine], currency: str, payment_token: str) -> str:
    """What makes two orders under one Idempotency-Key the same order."""
    lines = [[line.sku, line.quantity, str(line.unit_price)] for line in items]
    canonical = json.dumps([lines, currency, payment_token], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
