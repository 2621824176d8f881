"""The domain without AWS: the lifecycle, money, the fake payment provider, the fulfilment steps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orders.adapters.payment import FakePaymentProvider
from orders.domain.fulfilment import (
    Charge,
    FulfilmentState,
    TaskError,
    confirm_order,
    failure_reason,
    mark_failed,
)
from orders.domain.model import InvalidTransition, NewOrder, Order, OrderLine, OrderNotPending, OrderStatus
from orders.domain.ports import (
    ChargeRequest,
    PaymentDeclined,
    PaymentTransientError,
    StatusConflict,
)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ORDER_ID = "01JD0000000000000000000000"


def new_order(**changes) -> NewOrder:
    values = {
        "order_id": ORDER_ID,
        "user_id": "u1",
        "items": [OrderLine(sku="A", quantity=3, unit_price=Decimal("0.10"))],
        "currency": "EUR",
        "payment_token": "tok_ok",
        "correlation_id": "corr-1",
        "placed_at": T0,
    }
    return NewOrder(**values | changes)


class OneOrder:
    """An in-memory repository holding one order, with the conditional write of the real one."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.events: list = []

    def get_order(self, user_id: str, order_id: str) -> Order | None:
        return self.order if (user_id, order_id) == (self.order.user_id, self.order.order_id) else None

    def save_transition(self, before: Order, after: Order, event) -> None:
        if self.order.status is not before.status:
            raise StatusConflict(before.order_id)
        self.order = after
        self.events.append(event)


def test_totals_are_exact_decimals():
    assert new_order().total == Decimal("0.30")  # 3 x 0.1 as floats is 0.30000000000000004


def test_pending_is_the_only_status_an_order_leaves_and_history_records_each_change():
    order = Order.place(new_order())
    confirmed = order.transition(OrderStatus.CONFIRMED, T0 + timedelta(seconds=5), invoice_number="INV-1")

    assert [(e.status, e.at) for e in confirmed.history] == [
        (OrderStatus.PENDING, T0),
        (OrderStatus.CONFIRMED, T0 + timedelta(seconds=5)),
    ]
    assert confirmed.invoice_number == "INV-1"
    assert order.status is OrderStatus.PENDING  # orders are values
    with pytest.raises(InvalidTransition, match="is CONFIRMED, it cannot become CANCELLED"):
        confirmed.transition(OrderStatus.CANCELLED, T0)


@pytest.mark.parametrize(
    ("token", "outcomes"),
    [
        ("tok_ok", ["ch_", "ch_", "ch_"]),
        ("tok_flaky", [PaymentTransientError, PaymentTransientError, "ch_"]),
        ("tok_unavailable", [PaymentTransientError] * 3),
        ("tok_decline", [PaymentDeclined] * 3),
        ("tok_unknown", [PaymentDeclined] * 3),
    ],
)
def test_the_fake_provider_is_deterministic_per_attempt(token, outcomes):
    provider = FakePaymentProvider()
    for attempt, expected in enumerate(outcomes, start=1):
        request = ChargeRequest(ORDER_ID, token, Decimal("1.00"), "EUR", attempt)
        if isinstance(expected, str):
            assert provider.charge(request) == f"ch_{ORDER_ID}"
        else:
            with pytest.raises(expected):
                provider.charge(request)


def test_failure_reasons_name_what_went_wrong():
    def caught(error: str, message: str) -> TaskError:
        return TaskError(Error=error, Cause=json.dumps({"errorMessage": message, "errorType": error}))

    assert failure_reason(caught("PaymentDeclined", "card declined")) == "Payment declined: card declined"
    assert failure_reason(caught("PaymentTransientError", "timeout")) == (
        "Payment provider unavailable, retries exhausted: timeout"
    )
    assert failure_reason(TaskError(Error="States.Timeout", Cause="task timed out")) == (
        "Fulfilment failed (States.Timeout): task timed out"
    )


def test_confirming_twice_writes_once_and_a_cancelled_order_is_not_confirmed():
    repository = OneOrder(Order.place(new_order()))
    state = FulfilmentState(
        order_id=ORDER_ID, user_id="u1", correlation_id="corr-1", payment=Charge(charge_id="ch_1", attempt=1)
    )

    first = confirm_order(state, now=T0, orders=repository)
    again = confirm_order(state, now=T0 + timedelta(seconds=1), orders=repository)

    assert first == again
    assert first.invoice_number == f"INV-20261127-{ORDER_ID}"
    assert [e.detail_type for e in repository.events] == ["OrderConfirmed"]

    cancelled = OneOrder(Order.place(new_order()).transition(OrderStatus.CANCELLED, T0, "by the customer"))
    with pytest.raises(OrderNotPending):
        confirm_order(state, now=T0, orders=cancelled)


def test_mark_failed_leaves_an_order_that_moved_on_alone():
    cancelled = Order.place(new_order()).transition(OrderStatus.CANCELLED, T0, "by the customer")
    repository = OneOrder(cancelled)
    state = FulfilmentState(
        order_id=ORDER_ID, user_id="u1", correlation_id="corr-1", error=TaskError(Error="PaymentDeclined")
    )

    assert mark_failed(state, now=T0, orders=repository) == cancelled
    assert repository.events == []
