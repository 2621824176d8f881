"""The intake consumer with the SQS records Lambda delivers from the intake queue: one order per
accepted request however often it is delivered, and partial batch failures."""

from __future__ import annotations

import json
import sys

import boto3
import pytest

from shared.dead_letters import REASON_ATTRIBUTE


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


def test_a_message_that_is_not_an_order_goes_to_the_dlq_at_once_and_the_rest_is_recorded(
    aws, profile, place, sqs_records, process_intake, table
):
    profile("u1")
    order_id = place()
    [good] = sqs_records("IntakeQueue")
    bad = good | {"messageId": "bad-1", "body": json.dumps({"order_id": "x"})}

    response = process_intake({"Records": [bad, good]})

    assert response == {"batchItemFailures": []}  # the rejected record is done, not retried
    assert table("USER#u1", f"ORDER#{order_id}")["status"] == {"S": "PENDING"}
    [letter] = boto3.client("sqs").receive_message(
        QueueUrl=aws.ref("orders", "IntakeDLQ"), MessageAttributeNames=["All"]
    )["Messages"]
    assert letter["Body"] == bad["body"]
    assert letter["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"].startswith("not an accepted order")


def test_a_record_that_fails_is_retried_alone(profile, place, sqs_records, process_intake, monkeypatch):
    profile("u1")
    profile("u2")
    place(user="u1")
    place(user="u2")
    records = sqs_records("IntakeQueue")
    module = sys.modules["orders.handlers.process_intake"]
    add_order = module.orders.add_order

    def failing_for_u2(order, event, **options):
        if order.user_id == "u2":
            raise ConnectionError("DynamoDB unreachable")
        return add_order(order, event, **options)

    monkeypatch.setattr(module.orders, "add_order", failing_for_u2)
    response = process_intake({"Records": records})

    u2 = next(r["messageId"] for r in records if '"user_id":"u2"' in r["body"])
    assert response == {"batchItemFailures": [{"itemIdentifier": u2}]}


def test_an_order_of_a_user_deleted_meanwhile_ends_cancelled_with_its_reason(
    profile, place, sqs_records, process_intake, publish_user_event, plumbing, call_api, outbox
):
    profile("u1")
    order_id = place()
    records = sqs_records("IntakeQueue")
    publish_user_event("deleted", "u1")
    plumbing.deliver_queues()  # sync-profiles marks the profile deleted (the intake message is in flight)

    assert process_intake({"Records": records}) == {"batchItemFailures": []}
    assert process_intake({"Records": records}) == {"batchItemFailures": []}  # redelivered

    order = call_api("GET", f"/orders/{order_id}").body
    assert order["status"] == "CANCELLED"
    assert [(entry["status"], entry["reason"]) for entry in order["history"]] == [
        ("PENDING", None),
        ("CANCELLED", "User deleted"),
    ]
    [cancelled] = outbox()  # no OrderPlaced: nothing to fulfil
    assert cancelled["detail_type"] == "OrderCancelled"
    assert cancelled["detail"]["data"] == {"order_id": order_id, "user_id": "u1", "reason": "User deleted"}


def test_an_unreadable_intake_message_ends_in_the_dead_letter_queue_after_one_delivery(aws, plumbing):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.ref("orders", "IntakeQueue"), MessageBody="not an order")

    plumbing.deliver_queues()

    dead = sqs.receive_message(QueueUrl=aws.ref("orders", "IntakeDLQ"))["Messages"]
    assert [message["Body"] for message in dead] == ["not an order"]
