"""The steps of the fulfilment workflow (each one a Step Functions Lambda task).

ChargePayment → ConfirmOrder, or → MarkFailed on a decline or exhausted retries; RefundPayment
when the order was cancelled between the charge and the confirmation. Every step is safe to run
twice: Step Functions retries tasks, and the statuses are conditional writes.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from orders.domain.model import InvalidTransition, Order, OrderNotFound, OrderNotPending, OrderStatus
from orders.domain.ports import (
    ChargeRequest,
    OrderRepository,
    PaymentDeclined,
    PaymentProvider,
    PaymentTransientError,
    StatusConflict,
)
from shared.events.envelope import Envelope
from shared.events.orders import OrderConfirmed, OrderFailed


class Charge(BaseModel):
    charge_id: str
    attempt: int


class TaskError(BaseModel):
    """What a ``Catch`` puts at its ``ResultPath``: the error name and the task's error payload."""

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")

    @property
    def message(self) -> str:
        try:
            return str(json.loads(self.cause).get("errorMessage", self.cause))
        except (ValueError, AttributeError):
            return self.cause


class FulfilmentState(BaseModel):
    """The execution's state: its input, plus what earlier steps added under their ``ResultPath``."""

    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    correlation_id: str = Field(min_length=1)
    payment: Charge | None = None
    error: TaskError | None = None

    @classmethod
    def start(cls, order: Order) -> FulfilmentState:
        # No payment token in the execution input: Step Functions keeps inputs in its history.
        return cls(order_id=order.order_id, user_id=order.user_id, correlation_id=order.correlation_id)


def invoice_number(order: Order) -> str:
    """Derived from the order, so a retried confirmation writes the same number."""
    return f"INV-{order.created_at:%Y%m%d}-{order.order_id}"


def failure_reason(error: TaskError | None) -> str:
    if error is None:
        return "Fulfilment failed"
    if error.error == PaymentDeclined.__name__:
        return f"Payment declined: {error.message}"
    if error.error == PaymentTransientError.__name__:
        return f"Payment provider unavailable, retries exhausted: {error.message}"
    return f"Fulfilment failed ({error.error}): {error.message}"


def _load(state: FulfilmentState, orders: OrderRepository) -> Order:
    order = orders.get_order(state.user_id, state.order_id)
    if order is None:
        raise OrderNotFound(state.order_id)
    return order


def charge_payment(state: FulfilmentState, *, orders: OrderRepository, payments: PaymentProvider) -> Charge:
    """Charge a PENDING order (``OrderNotPending`` if it was cancelled before the charge)."""
    order, attempt = orders.start_payment_attempt(state.user_id, state.order_id)
    request = ChargeRequest(
        order_id=order.order_id,
        payment_token=order.payment_token,
        amount=order.total,
        currency=order.currency,
        attempt=attempt,
    )
    return Charge(charge_id=payments.charge(request), attempt=attempt)


def confirm_order(state: FulfilmentState, *, now: datetime, orders: OrderRepository) -> Order:
    """PENDING → CONFIRMED with an invoice number; ``OrderNotPending`` if it was cancelled meanwhile."""
    if state.payment is None:
        raise ValueError("confirm_order needs the charge of the ChargePayment step")
    order = _load(state, orders)
    if order.status is OrderStatus.CONFIRMED and order.charge_id == state.payment.charge_id:
        return order  # this step ran before
    try:
        confirmed = order.transition(
            OrderStatus.CONFIRMED,
            now,
            invoice_number=invoice_number(order),
            charge_id=state.payment.charge_id,
        )
    except InvalidTransition as error:
        raise OrderNotPending(str(error)) from None
    event = OrderConfirmed(
        order_id=order.order_id,
        user_id=order.user_id,
        currency=order.currency,
        total=order.total,
        invoice_number=confirmed.invoice_number,
    )
    try:
        orders.save_transition(order, confirmed, Envelope.wrap(event, correlation_id=order.correlation_id))
    except StatusConflict:
        raise OrderNotPending(f"order {order.order_id} changed while it was being confirmed") from None
    return confirmed


def mark_failed(state: FulfilmentState, *, now: datetime, orders: OrderRepository) -> Order:
    """PENDING → FAILED with the reason; an order that left PENDING meanwhile stays as it is."""
    order = _load(state, orders)
    if order.status is not OrderStatus.PENDING:
        return order
    reason = failure_reason(state.error)
    failed = order.transition(OrderStatus.FAILED, now, reason, failure_reason=reason)
    event = OrderFailed(order_id=order.order_id, user_id=order.user_id, reason=reason)
    try:
        orders.save_transition(order, failed, Envelope.wrap(event, correlation_id=order.correlation_id))
    except StatusConflict:
        return _load(state, orders)
    return failed


def refund_payment(state: FulfilmentState, *, payments: PaymentProvider) -> str:
    if state.payment is None:
        raise ValueError("refund_payment needs the charge of the ChargePayment step")
    return payments.refund(state.payment.charge_id)
