"""Payment faults through the executed fulfilment state machine, on moto: POST /orders → intake →
the table's stream → start-fulfilment → Step Functions (its Retry and Catch as deployed, its
Lambda tasks running the real handlers) → the order's status and its events on the bus.

The faults are injected at the payment adapter, under the charge-payment handler: a provider that
times out or declines, whatever the token says. The backoff is observed where Step Functions waits
(moto's retrier), which records each wait instead of sleeping it.
"""

from __future__ import annotations

import sys
from collections import Counter
from types import SimpleNamespace

import boto3
import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from orders.domain.ports import ChargeRequest, PaymentDeclined, PaymentTransientError
from tests.reliability.consumers import only
from tests.reliability.orders_support import ORDER, create_profiles, orders_of

ORDERS = 3
CHARGE_PAYMENT = "shop-orders-dev-charge-payment"


class FaultyProvider:
    """The real fake provider behind a provider that, for each order, times out on its first
    ``timeouts`` attempts (before charging anything) or declines; counts the charges made."""

    def __init__(self, provider, *, timeouts: int = 0, decline: str | None = None) -> None:
        self._provider = provider
        self._timeouts = timeouts
        self._decline = decline
        self.attempts: Counter[str] = Counter()
        self.charges: Counter[str] = Counter()

    def charge(self, request: ChargeRequest) -> str:
        self.attempts[request.order_id] += 1
        if self.attempts[request.order_id] <= self._timeouts:
            raise PaymentTransientError(f"provider timed out (attempt {request.attempt})")
        if self._decline:
            raise PaymentDeclined(self._decline)
        charge_id = self._provider.charge(request)
        self.charges[request.order_id] += 1
        return charge_id

    def refund(self, charge_id: str) -> str:
        return self._provider.refund(charge_id)


@pytest.fixture
def backoff_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits Step Functions' Retry asks for, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=waits.append))
    return waits


@pytest.fixture
def fulfilment(aws, plumbing):
    """The orders plumbing that fulfils an order; its task handlers loaded on this thread (state
    machine tasks run on moto's threads, which should not be the first to import a module)."""
    create_profiles(aws, plumbing, "u1")
    only(plumbing, "orders", "process-intake", "start-fulfilment", "publish-events")
    for name, spec in plumbing.specs.items():
        if spec.service == "orders":
            plumbing.handler(name)
    return plumbing


CASES = {
    # case: (provider faults, final status, attempts per order, waits, reason, charges per order)
    "two timeouts, then charged": ({"timeouts": 2}, "CONFIRMED", 3, [1.0, 2.0], None, 1),
    "hard decline": (
        {"decline": "insufficient funds"},
        "FAILED",
        1,
        [],
        "Payment declined: insufficient funds",
        0,
    ),
    "timeouts outlast the retries": (
        {"timeouts": 3},
        "FAILED",
        3,
        [1.0, 2.0],
        "Payment provider unavailable, retries exhausted: provider timed out (attempt 3)",
        0,
    ),
}


@pytest.mark.parametrize(
    ("faults", "status", "attempts", "waits", "reason", "charges"), CASES.values(), ids=CASES.keys()
)
def test_payment_faults_are_retried_with_backoff_or_fail_the_order_with_the_reason(
    aws,
    call_http,
    fulfilment,
    bus_recorder,
    backoff_waits,
    monkeypatch,
    faults,
    status,
    attempts,
    waits,
    reason,
    charges,
):
    module = sys.modules["orders.handlers.charge_payment"]
    provider = FaultyProvider(module.payments, **faults)
    monkeypatch.setattr(module, "payments", provider)
    placed = [call_http("orders", "POST", "/orders", body=ORDER, user="u1") for _ in range(ORDERS)]
    order_ids = sorted(reply.body["order_id"] for reply in placed)

    fulfilment.drain()

    orders = orders_of(aws, "u1")
    assert sorted(order["order_id"]["S"] for order in orders) == order_ids
    for order in orders:
        assert order["status"] == {"S": status}
        assert order["payment_attempts"] == {"N": str(attempts)}
        assert order.get("failure_reason", {}).get("S") == reason
    assert provider.attempts == dict.fromkeys(order_ids, attempts)
    assert provider.charges == {order_id: charges for order_id in order_ids if charges}
    # The backoff asked of Step Functions: 1 s, then 2 s per order (IntervalSeconds 1, BackoffRate 2).
    assert sorted(backoff_waits) == sorted(waits * ORDERS)
    states = boto3.client("stepfunctions")
    executions = states.list_executions(stateMachineArn=aws.arn("orders", "FulfilmentStateMachine"))
    assert sorted(e["name"] for e in executions["executions"]) == order_ids
    assert {e["status"] for e in executions["executions"]} == {"SUCCEEDED"}
    outcome = "OrderConfirmed" if status == "CONFIRMED" else "OrderFailed"
    published = Counter(
        (event["detail-type"], event["detail"]["data"]["order_id"])
        for event in bus_recorder.events()
        if event["source"] == "shop.orders"
    )
    assert published == {
        (detail_type, order_id): 1 for order_id in order_ids for detail_type in ("OrderPlaced", outcome)
    }
    if reason:
        assert {
            e["detail"]["data"]["reason"] for e in bus_recorder.received if e["detail-type"] == outcome
        } == {reason}
