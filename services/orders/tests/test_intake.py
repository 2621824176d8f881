"""The intake consumer with the SQS records Lambda delivers from the intake queue: one order per
accepted request however often it is delivered, and partial batch failures."""

from __future__ import annotations

import json

import boto3
import pytest


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


def test_an_intake_message_that_keeps_failing_ends_in_the_dead_letter_queue(aws, plumbing):
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws.ref("orders", "IntakeQueue"), MessageBody="not an order")

    for _ in range(6):  # maxReceiveCount is 5
        plumbing.deliver_queues()

    dead = sqs.receive_message(QueueUrl=aws.ref("orders", "IntakeDLQ"))["Messages"]
    assert [message["Body"] for message in dead] == ["not an order"]
