"""The whole flow on moto: POST /orders → intake queue → process-intake → table stream →
start-fulfilment → the executed state machine (its Lambda tasks run the real handlers) → status,
history and the events on the bus."""

from __future__ import annotations

import json
import sys

import boto3
import pytest


@pytest.fixture
def executions(aws):
    """The fulfilment state machine's executions: ``{name: describe_execution(...)}``."""
    states = boto3.client("stepfunctions")
    machine = aws.arn("orders", "FulfilmentStateMachine")

    def listed() -> dict[str, dict]:
        return {
            e["name"]: states.describe_execution(executionArn=e["executionArn"])
            for e in states.list_executions(stateMachineArn=machine)["executions"]
        }

    return listed


def payment_attempts(table, order_id: str) -> int:
    item = table("USER#u1", f"ORDER#{order_id}")
    return int(item.get("payment_attempts", {"N": "0"})["N"])


@pytest.mark.parametrize(
    ("token", "status", "attempts", "reason", "last_event"),
    [
        ("tok_ok", "CONFIRMED", 1, None, "OrderConfirmed"),
        ("tok_flaky", "CONFIRMED", 3, None, "OrderConfirmed"),
        ("tok_decline", "FAILED", 1, "Payment declined: card declined", "OrderFailed"),
        (
            "tok_unavailable",
            "FAILED",
            3,
            "Payment provider unavailable, retries exhausted: provider timeout on attempt 3",
            "OrderFailed",
        ),
    ],
)
def test_each_payment_token_takes_its_path_through_the_state_machine(
    call_api,
    profile,
    plumbing,
    table,
    executions,
    bus_events,
    order_request,
    token,
    status,
    attempts,
    reason,
    last_event,
):
    profile("u1")
    placed = call_api(
        "POST",
        "/orders",
        body=order_request | {"payment_token": token},
        headers={"X-Correlation-Id": f"corr-{token}"},
    )
    order_id = placed.body["order_id"]

    plumbing.drain()

    order = call_api("GET", f"/orders/{order_id}").body
    assert order["status"] == status
    assert [entry["status"] for entry in order["history"]] == ["PENDING", status]
    assert order["failure_reason"] == reason
    assert order["history"][-1]["reason"] == reason
    if status == "CONFIRMED":
        assert order["invoice_number"] == f"INV-{order['created_at'][:10].replace('-', '')}-{order_id}"
    else:
        assert order["invoice_number"] is None
    assert payment_attempts(table, order_id) == attempts

    [(name, execution)] = executions().items()
    assert name == order_id
    assert execution["status"] == "SUCCEEDED"
    # The payment token stays in the table: Step Functions keeps inputs in its history.
    assert json.loads(execution["input"]) == {
        "order_id": order_id,
        "user_id": "u1",
        "correlation_id": f"corr-{token}",
    }

    published = bus_events()
    assert [e["detail-type"] for e in published] == ["OrderPlaced", last_event]
    assert {e["detail"]["metadata"]["correlation_id"] for e in published} == {f"corr-{token}"}
    placed_event, outcome = (e["detail"]["data"] for e in published)
    assert placed_event == {
        "order_id": order_id,
        "user_id": "u1",
        "items": order_request["items"],
        "currency": "EUR",
        "total": "28.99",
    }
    if status == "CONFIRMED":
        assert outcome == {
            "order_id": order_id,
            "user_id": "u1",
            "currency": "EUR",
            "total": "28.99",
            "invoice_number": order["invoice_number"],
        }
    else:
        assert outcome == {"order_id": order_id, "user_id": "u1", "reason": reason}


def test_an_order_cancelled_before_its_charge_is_never_charged(
    call_api, profile, plumbing, table, executions, bus_events, place
):
    profile("u1")
    order_id = place()
    plumbing.deliver_queues()  # recorded, fulfilment not started yet
    assert call_api("POST", f"/orders/{order_id}/cancel").status == 200

    plumbing.drain()

    assert call_api("GET", f"/orders/{order_id}").body["status"] == "CANCELLED"
    assert payment_attempts(table, order_id) == 0
    execution = executions()[order_id]
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["error"]["Error"] == "OrderNotPending"
    assert [e["detail-type"] for e in bus_events()] == ["OrderPlaced", "OrderCancelled"]


class CancelledDuringCharge:
    """The real fake provider, with the customer cancelling while the charge is in flight."""

    def __init__(self, provider, cancel) -> None:
        self._provider = provider
        self._cancel = cancel
        self.refunded: list[str] = []

    def charge(self, request):
        charge_id = self._provider.charge(request)
        self._cancel(request.order_id)
        return charge_id

    def refund(self, charge_id):
        self.refunded.append(charge_id)
        return self._provider.refund(charge_id)


def test_an_order_cancelled_after_its_charge_is_refunded_not_confirmed(
    call_api, profile, plumbing, executions, bus_events, place, monkeypatch
):
    profile("u1")
    charge_module = sys.modules["orders.handlers.charge_payment"]
    refund_module = sys.modules["orders.handlers.refund_payment"]
    provider = CancelledDuringCharge(
        charge_module.payments,
        lambda order_id: call_api("POST", f"/orders/{order_id}/cancel"),
    )
    monkeypatch.setattr(charge_module, "payments", provider)
    monkeypatch.setattr(refund_module, "payments", provider)
    order_id = place()

    plumbing.drain()

    order = call_api("GET", f"/orders/{order_id}").body
    assert order["status"] == "CANCELLED"
    assert order["invoice_number"] is None
    assert provider.refunded == [f"ch_{order_id}"]
    output = json.loads(executions()[order_id]["output"])
    assert output["refund"] == {"refund_id": f"re_{order_id}"}
    assert [e["detail-type"] for e in bus_events()] == ["OrderPlaced", "OrderCancelled"]


def test_a_redelivered_order_insert_starts_no_second_execution(
    aws, profile, place, plumbing, lambda_function, executions
):
    profile("u1")
    order_id = place()
    plumbing.deliver_queues()
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    stream_arn = dynamodb.describe_table(TableName=aws.physical_name("orders", "OrdersTable"))["Table"][
        "LatestStreamArn"
    ]
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = json.loads(
        json.dumps(streams.get_records(ShardIterator=iterator)["Records"], default=lambda v: v.timestamp())
    )
    start = lambda_function("orders", "start-fulfilment")

    first = start({"Records": records})
    again = start({"Records": records})

    assert first == again == {"batchItemFailures": []}
    assert list(executions()) == [order_id]
