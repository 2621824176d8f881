"""The profile copy kept from the users service's events (bus → rule → queue → sync-profiles), and
the cancellation of a deleted user's open orders."""

from __future__ import annotations

import json
import sys

import boto3

from shared.dead_letters import REASON_ATTRIBUTE


def test_user_events_on_the_bus_keep_the_profile_copy_newest_version_wins(
    publish_user_event, plumbing, table, call_api
):
    created = publish_user_event("created", "u1")
    plumbing.deliver_queues()
    assert table("USER#u1", "PROFILE")["email"] == {"S": "u1@example.com"}

    publish_user_event("updated", "u1", version=2, name="Ann", email="ann@example.com")
    plumbing.deliver_queues()
    # A redelivered or late older version changes nothing.
    boto3.client("events").put_events(Entries=[created.to_entry("shop-dev")])
    publish_user_event("updated", "u1", version=2, name="Stale")
    plumbing.deliver_queues()

    copy = table("USER#u1", "PROFILE")
    assert (copy["name"], copy["email"], copy["version"]) == (
        {"S": "Ann"},
        {"S": "ann@example.com"},
        {"N": "2"},
    )
    page = call_api("GET", "/users/u1/orders")
    assert page.body["profile"] == {"user_id": "u1", "email": "ann@example.com", "name": "Ann"}


def test_user_deleted_cancels_open_orders_once_and_keeps_a_tombstone(
    profile, place, plumbing, publish_user_event, hold_back_fulfilment, call_api, table, outbox
):
    profile("u1")
    confirmed = place()
    plumbing.drain()
    hold_back_fulfilment()
    open_orders = [place(), place()]
    plumbing.deliver_queues()
    assert {call_api("GET", f"/orders/{o}").body["status"] for o in open_orders} == {"PENDING"}

    deleted = publish_user_event("deleted", "u1")
    plumbing.deliver_queues()
    # Redelivery of the same event, then a late update from before the deletion.
    boto3.client("events").put_events(Entries=[deleted.to_entry("shop-dev")])
    publish_user_event("updated", "u1", version=5)
    plumbing.deliver_queues()

    assert call_api("GET", f"/orders/{confirmed}").body["status"] == "CONFIRMED"
    for order_id in open_orders:
        order = call_api("GET", f"/orders/{order_id}").body
        assert order["status"] == "CANCELLED"
        assert order["history"][-1]["reason"] == "User deleted"
    cancellations = [e for e in outbox() if e["detail_type"] == "OrderCancelled"]
    assert sorted(e["detail"]["data"]["order_id"] for e in cancellations) == sorted(open_orders)
    assert {e["detail"]["metadata"]["correlation_id"] for e in cancellations} == {"corr-deleted-u1"}

    tombstone = table("USER#u1", "PROFILE")
    assert tombstone["deleted"] == {"BOOL": True}
    assert "email" not in tombstone
    assert "name" not in tombstone
    assert call_api("GET", "/users/u1/orders").body["profile"] is None


def test_a_user_who_signs_up_again_after_deleting_the_profile_orders_again(
    profile, place, plumbing, publish_user_event, call_api, order_request
):
    profile("u1")
    first = place()
    plumbing.drain()
    publish_user_event("deleted", "u1")
    plumbing.deliver_queues()
    assert call_api("POST", "/orders", body=order_request).status == 409

    publish_user_event("created", "u1", email="again@example.com")  # the same sub, a new profile
    plumbing.deliver_queues()
    again = place()
    plumbing.drain()

    page = call_api("GET", "/users/u1/orders").body
    assert page["profile"] == {"user_id": "u1", "email": "again@example.com", "name": "U1"}
    assert [(o["order_id"], o["status"]) for o in page["orders"]] == [
        (again, "CONFIRMED"),
        (first, "CONFIRMED"),
    ]


def test_late_events_of_the_deleted_profile_leave_the_new_one_and_its_orders_alone(
    profile, place, plumbing, publish_user_event, hold_back_fulfilment, call_api, table
):
    profile("u1")
    late_update = publish_user_event("updated", "u1", version=2, name="Old")
    late_deletion = publish_user_event("deleted", "u1")
    plumbing.deliver_queues()
    publish_user_event("created", "u1", name="New")
    plumbing.deliver_queues()
    hold_back_fulfilment()
    open_order = place()
    plumbing.deliver_queues()

    # Both events of the first profile arrive again (a redelivery, an archive replay).
    boto3.client("events").put_events(
        Entries=[late_update.to_entry("shop-dev"), late_deletion.to_entry("shop-dev")]
    )
    plumbing.deliver_queues()

    assert table("USER#u1", "PROFILE")["name"] == {"S": "New"}
    assert call_api("GET", f"/orders/{open_order}").body["status"] == "PENDING"


def test_an_event_the_service_cannot_read_goes_to_the_dlq_at_once_with_its_reason(
    aws, lambda_function, publish_user_event, sqs_records, table
):
    publish_user_event("created", "u1")
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=aws.ref("orders", "UserEventsQueue"), MessageBody=json.dumps({"detail-type": "x"})
    )
    records = sqs_records("UserEventsQueue")

    response = lambda_function("orders", "sync-profiles")({"Records": records})

    assert response == {"batchItemFailures": []}  # the rejected record is done, not retried
    assert table("USER#u1", "PROFILE")["email"] == {"S": "u1@example.com"}
    [letter] = sqs.receive_message(
        QueueUrl=aws.ref("orders", "UserEventsDLQ"), MessageAttributeNames=["All"]
    )["Messages"]
    assert letter["Body"] == json.dumps({"detail-type": "x"})
    assert letter["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"].startswith("not an EventBridge event")


def test_a_record_that_fails_is_retried_alone(
    aws, lambda_function, publish_user_event, sqs_records, monkeypatch
):
    publish_user_event("created", "u1")
    publish_user_event("created", "u2")
    records = sqs_records("UserEventsQueue")
    sync_profiles = lambda_function("orders", "sync-profiles")
    module = sys.modules["orders.handlers.sync_profiles"]
    save = module.profiles.save

    def failing_for_u2(change):
        if change.user_id == "u2":
            raise ConnectionError("DynamoDB unreachable")
        return save(change)

    monkeypatch.setattr(module.profiles, "save", failing_for_u2)
    response = sync_profiles({"Records": records})

    u2 = next(r["messageId"] for r in records if '"u2"' in r["body"])
    assert response == {"batchItemFailures": [{"itemIdentifier": u2}]}
