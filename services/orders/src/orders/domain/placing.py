"""Placing an order: accepted by the API into the intake queue, then recorded by the intake consumer."""

from __future__ import annotations

from datetime import datetime

from orders.domain.model import NewOrder, NoProfile, Order, OrderLine
from orders.domain.ports import IntakeQueue, OrderRepository, Recorded
from shared.events.envelope import Envelope, new_id
from shared.events.orders import OrderPlaced


def accept_order(
    user_id: str,
    items: list[OrderLine],
    currency: str,
    payment_token: str,
    *,
    correlation_id: str,
    now: datetime,
    orders: OrderRepository,
    intake: IntakeQueue,
    idempotency_key: str | None = None,
) -> NewOrder:
    """Check the user may order and queue the order; it is recorded asynchronously."""
    profile = orders.get_profile(user_id)
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
        idempotency_key=idempotency_key,
    )
    intake.send(new)
    return new


def record_order(new: NewOrder, orders: OrderRepository) -> Recorded:
    """Write the order with its ``OrderPlaced`` event; a redelivered message, or another order under
    the same Idempotency-Key, changes nothing."""
    order = Order.place(new)
    placed = OrderPlaced(
        order_id=order.order_id,
        user_id=order.user_id,
        items=order.items,
        currency=order.currency,
        total=order.total,
    )
    event = Envelope.wrap(placed, correlation_id=new.correlation_id)
    return orders.add_order(order, event, idempotency_key=new.idempotency_key)
