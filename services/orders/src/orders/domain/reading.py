"""What a user (or an admin) reads: one order, or a user's profile copy with a page of orders."""

from __future__ import annotations

from orders.domain.model import Order, OrderNotFound
from orders.domain.ports import OrderRepository, OrdersPage
from shared.authorization import Actor, authorize


def view_order(order_id: str, actor: Actor, *, orders: OrderRepository) -> Order:
    order = orders.find_order(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    authorize(actor, order.user_id)
    return order


def list_orders(
    user_id: str, actor: Actor, *, limit: int, cursor: str | None, orders: OrderRepository
) -> OrdersPage:
    """Newest first; the profile copy comes with the first page, from the same query."""
    authorize(actor, user_id)
    return orders.list_orders(user_id, limit, cursor)
