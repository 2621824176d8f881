"""The deliver function with SQS records as Lambda hands them over (bodies: EventBridge events), on
moto: what is sent, what is stored, what is retried and what is dead-lettered."""

from __future__ import annotations

import json

import boto3
import pytest

from devtools.testkit.eventbridge import eventbridge_event
from shared.dead_letters import MESSAGE_ID_ATTRIBUTE, REASON_ATTRIBUTE
from shared.partial_batch import BatchFailed


def test_a_batch_sends_and_records_one_notification_per_event(deliver, sqs_batch, events, mailbox, table):
    created, confirmed = events.user_created(name="Ann"), events.order_confirmed(order_id="o42")

    response = deliver(sqs_batch(created, confirmed))

    assert response == {"batchItemFailures": []}
    welcome, confirmation = mailbox()
    assert (welcome.to, welcome.sender, welcome.subject) == (
        ["u1@example.com"],
        "notifications@shop.example",
        "Welcome to the Shop, Ann",
    )
    assert confirmation.subject == "Your order o42 is confirmed"
    assert "42.50 EUR" in confirmation.body
    assert "INV-o42" in confirmation.body

    stored = {n["event_id"]["S"]: n for n in table.notifications("u1")}
    record = stored[confirmed.metadata.event_id]
    assert record["status"] == {"S": "sent"}
    assert record["channel"] == {"S": "email"}
    assert record["template"] == {"S": "order_confirmed"}
    assert record["values"]["M"]["order_id"] == {"S": "o42"}
    assert record["sent_at"]["S"] >= record["created_at"]["S"]
    assert set(stored) == {created.metadata.event_id, confirmed.metadata.event_id}
    assert table.get("USER#u1", "PROFILE")["email"] == {"S": "u1@example.com"}


def test_one_poison_record_goes_to_the_dlq_with_its_reason_and_blocks_nothing(
    deliver, sqs_batch, events, mailbox, dead_letters
):
    unknown = json.dumps(eventbridge_event(events.order_confirmed()) | {"detail-type": "OrderShipped"})
    batch = sqs_batch(events.user_created(), "{not json", unknown, events.order_failed())

    response = deliver(batch)

    assert response == {"batchItemFailures": []}  # rejected records are done, not retried
    assert [m.subject for m in mailbox()] == [
        "Welcome to the Shop, Ann",
        "Your order o1 could not be completed",
    ]
    rejected = {letter.body: letter.attributes for letter in dead_letters()}
    assert rejected == {
        "{not json": {
            REASON_ATTRIBUTE: "SQS message body is not JSON",
            MESSAGE_ID_ATTRIBUTE: batch["Records"][1]["messageId"],
        },
        unknown: {
            REASON_ATTRIBUTE: "unknown event shop.orders/OrderShipped v1",
            MESSAGE_ID_ATTRIBUTE: batch["Records"][2]["messageId"],
        },
    }


def test_an_invalid_event_and_an_event_not_consumed_here_are_rejected(
    deliver, sqs_batch, events, dead_letters
):
    invalid = eventbridge_event(events.order_failed())
    del invalid["detail"]["data"]["reason"]
    placed = eventbridge_event(events.order_failed()) | {"detail-type": "OrderPlaced"}
    placed["detail"]["data"] |= {
        "items": [{"sku": "s", "quantity": 1, "unit_price": "1.00"}],
        "total": "1.00",
    }
    placed["detail"]["data"]["currency"] = "EUR"

    response = deliver(sqs_batch(json.dumps(invalid), json.dumps(placed)))

    assert response == {"batchItemFailures": []}
    reasons = sorted(letter.attributes[REASON_ATTRIBUTE] for letter in dead_letters())
    assert reasons == ["OrderPlaced v1 is not consumed here", "invalid OrderFailed v1: data.reason"]


def test_a_duplicate_delivery_sends_and_records_nothing_twice(deliver, sqs_batch, events, mailbox, table):
    created, confirmed = events.user_created(), events.order_confirmed()

    assert deliver(sqs_batch(created, confirmed, confirmed)) == {"batchItemFailures": []}
    assert deliver(sqs_batch(confirmed, created)) == {"batchItemFailures": []}

    assert len(mailbox()) == 2
    assert len(table.notifications("u1")) == 2


def test_an_ses_failure_fails_only_that_record_and_keeps_it_pending(
    deliver, sqs_batch, events, mailbox, table, deliver_spec
):
    deliver(sqs_batch(events.user_created()))
    ses = boto3.client("sesv2")
    ses.delete_email_identity(EmailIdentity=deliver_spec.environment["SENDER_EMAIL"])  # SES now rejects
    batch = sqs_batch(events.user_updated(email="new@example.com"), events.order_cancelled())

    response = deliver(batch)

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    assert table.get("USER#u1", "PROFILE")["email"] == {"S": "new@example.com"}  # the other record
    pending = [n for n in table.notifications("u1") if n["template"]["S"] == "order_cancelled"]
    assert [n["status"]["S"] for n in pending] == ["pending"]

    ses.create_email_identity(EmailIdentity=deliver_spec.environment["SENDER_EMAIL"])
    assert deliver({"Records": [batch["Records"][1]]}) == {"batchItemFailures": []}
    assert [m.to for m in mailbox()][1:] == [["new@example.com"]]
    assert table.notifications("u1")[-1]["status"] == {"S": "sent"}


def test_an_order_event_before_the_user_is_known_is_retried(deliver, sqs_batch, events, mailbox):
    batch = sqs_batch(events.order_confirmed(user_id="late"), events.user_created(user_id="early"))

    assert deliver(batch) == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    alone = sqs_batch(events.order_confirmed(user_id="late"))
    with pytest.raises(BatchFailed):  # the whole batch failed: Lambda retries it, Errors counts it
        deliver(alone)

    deliver(sqs_batch(events.user_created(user_id="late")))
    assert deliver(alone) == {"batchItemFailures": []}
    assert [m.subject for m in mailbox()][-1] == "Your order o1 is confirmed"


def test_a_deleted_user_gets_nothing_and_the_copy_forgets_the_address(
    deliver, sqs_batch, events, mailbox, table
):
    deliver(sqs_batch(events.user_created()))

    deliver(sqs_batch(events.user_deleted(), events.order_cancelled()))

    assert [m.subject for m in mailbox()] == ["Welcome to the Shop, Ann"]
    assert [n["template"]["S"] for n in table.notifications("u1")] == ["welcome"]
    profile = table.get("USER#u1", "PROFILE")
    assert profile["deleted"] == {"BOOL": True}
    assert "email" not in profile
    assert "name" not in profile
