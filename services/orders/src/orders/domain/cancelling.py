"""Cancelling orders that are not confirmed yet: by their owner (or an admin), or because the user
was deleted."""

from __future__ import annotations

from datetime import datetime

from orders.domain.model import Order, OrderStatus
from orders.domain.ports import OrderRepository, StatusConflict
from orders.domain.reading import view_order
from shared.authorization import Actor
from shared.events.envelope import Envelope
from shared.events.orders import OrderCancelled

USER_DELETED = "User deleted"


def cancel_order(
    order_id: str, actor: Actor, *, correlation_id: str, now: datetime, orders: OrderRepository
) -> Order:
    """PENDING → CANCELLED (``InvalidTransition`` from a final status, ``StatusConflict`` on a race)."""
    order = view_order(order_id, actor, orders=orders)
    reason = "Cancelled by the customer" if actor.user_id == order.user_id else "Cancelled by an admin"
    return _cancel(order, reason, correlation_id=correlation_id, now=now, orders=orders)


def cancel_open_orders(
    user_id: str, *, correlation_id: str, now: datetime, orders: OrderRepository
) -> list[Order]:
    """Cancel every PENDING order of a deleted user; orders that moved on meanwhile are left alone."""
    cancelled = []
    for order in orders.open_orders(user_id):
        try:
            cancelled.append(
                _cancel(order, USER_DELETED, correlation_id=correlation_id, now=now, orders=orders)
            )
        except StatusConflict:
            continue
    return cancelled


def _cancel(
    order: Order, reason: str, *, correlation_id: str, now: datetime, orders: OrderRepository
) -> Order:
    cancelled = order.transition(OrderStatus.CANCELLED, now, reason)
    event = OrderCancelled(order_id=order.order_id, user_id=order.user_id, reason=reason)
    orders.save_transition(order, cancelled, Envelope.wrap(event, correlation_id=correlation_id))
    return cancelled
