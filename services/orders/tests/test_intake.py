"""The intake consumer with the SQS records Lambda delivers from the intake queue: one order per
accepted request however often it is delivered, and partial batch failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest

from orders.domain.model import IDEMPOTENCY_WINDOW_SECONDS, NewOrder, OrderLine
from shared.events.envelope import new_id


@pytest.fixture
def process_intake(lambda_function):
    return lambda_function("orders", "process-intake")


def test_a_redelivered_intake_message_records_one_order_and_one_event(
    profile, place, sqs_records, process_intake, table, outbox
):
    profile("u1")
    order_id = place()
    records = sqs_records("IntakeQueue")

    assert process_intake({"Records": records}) == {"batchItemFailures": []}
    assert process_intake({"Records": records}) == {"batchItemFailures": []}

    item = table("USER#u1", f"ORDER#{order_id}")
    assert item["status"] == {"S": "PENDING"}
    assert item["total"] == {"S": "28.99"}
    assert item["GSI1PK"] == {"S": f"ORDER#{order_id}"}
    assert [e["detail_type"] for e in outbox()] == ["OrderPlaced"]


def test_a_bad_message_fails_alone_and_the_rest_of_the_batch_is_recorded(
    profile, place, sqs_records, process_intake, table
):
    profile("u1")
    order_id = place()
    [good] = sqs_records("IntakeQueue")
    bad = good | {"messageId": "bad-1", "body": json.dumps({"order_id": "x"})}

    response = process_intake({"Records": [bad, good]})

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert table("USER#u1", f"ORDER#{order_id}")["status"] == {"S": "PENDING"}


def test_an_order_of_a_user_deleted_meanwhile_is_dropped(
    profile, place, sqs_records, process_intake, publish_user_event, plumbing, table, outbox
):
    profile("u1")
    order_id = place()
    records = sqs_records("IntakeQueue")
    publish_user_event("deleted", "u1")
    plumbing.deliver_queues()  # sync-profiles marks the profile deleted (the intake message is in flight)

    assert process_intake({"Records": records}) == {"batchItemFailures": []}

    assert table("USER#u1", f"ORDER#{order_id}") is None
    assert outbox() == []


def test_an_intake_message_that_keeps_failing_ends_in_the_dead_letter_queue(aws, plumbing):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.ref("orders", "IntakeQueue"), MessageBody="not an order")

    for _ in range(6):  # maxReceiveCount is 5
        plumbing.deliver_queues()

    dead = sqs.receive_message(QueueUrl=aws.ref("orders", "IntakeDLQ"))["Messages"]
    assert [message["Body"] for message in dead] == ["not an order"]


def test_one_order_per_idempotency_key_within_its_window(
    aws, profile, sqs_records, process_intake, table, outbox
):
    """Two copies of an order under one Idempotency-Key (the API accepted a retry after the first
    invocation died with the key in flight): the first recorded wins; a day later the key is free."""
    profile("u1")
    sqs = boto3.client("sqs")
    first = NewOrder(
        order_id=new_id(),
        user_id="u1",
        items=[OrderLine(sku="BOOK-1", quantity=1, unit_price=Decimal("12.50"))],
        currency="EUR",
        payment_token="tok_ok",
        correlation_id="corr-9",
        placed_at=datetime.now(UTC),
        idempotency_key="checkout-9",
    )
    copy = first.model_copy(update={"order_id": new_id()})
    next_day = first.model_copy(
        update={
            "order_id": new_id(),
            "placed_at": first.placed_at + timedelta(seconds=IDEMPOTENCY_WINDOW_SECONDS),
        }
    )
    for order in (first, copy, next_day):
        sqs.send_message(QueueUrl=aws.ref("orders", "IntakeQueue"), MessageBody=order.model_dump_json())

    assert process_intake({"Records": sqs_records("IntakeQueue")}) == {"batchItemFailures": []}

    assert table("USER#u1", f"ORDER#{first.order_id}")
    assert table("USER#u1", f"ORDER#{copy.order_id}") is None
    assert table("USER#u1", f"ORDER#{next_day.order_id}")
    placed = sorted(e["detail"]["data"]["order_id"] for e in outbox())
    assert placed == sorted([first.order_id, next_day.order_id])
