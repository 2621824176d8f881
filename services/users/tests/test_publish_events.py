"""The outbox publisher with the stream records moto's DynamoDB stream holds after real API writes:
what reaches the bus, partial batch failures, retries and the on-failure destination."""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
import pytest

from shared.publisher import EventPublisher

BUS_ENTRY_KEYS = ("source", "detail-type", "detail")


class RefusingEventBridge:
    """The real (moto) EventBridge client, except that ``PutEvents`` refuses the entries about the
    users in ``refused``, the way EventBridge reports an internal error for some entries of a call."""

    def __init__(self) -> None:
        self._client = boto3.client("events")
        self.refused: set[str] = set()

    def _is_refused(self, entry: dict[str, str]) -> bool:
        return json.loads(entry["Detail"])["data"]["user_id"] in self.refused

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, Any]:  # boto3 passes Entries= by name
        accepted = [entry for entry in Entries if not self._is_refused(entry)]
        results = iter(self._client.put_events(Entries=accepted)["Entries"] if accepted else [])
        merged = [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
            if self._is_refused(entry)
            else next(results)
            for entry in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in result for result in merged), "Entries": merged}


@pytest.fixture
def publish(lambda_function):
    return lambda_function("users", "publish-events")


@pytest.fixture
def eventbridge(publish, monkeypatch) -> RefusingEventBridge:
    """The publisher's EventBridge client refuses what ``eventbridge.refused`` names (no backoff waits)."""
    client = RefusingEventBridge()
    module = sys.modules["shared.outbox_publisher"]
    monkeypatch.setattr(
        module, "publisher", EventPublisher(client, module.settings.event_bus_name, sleep=lambda _: None)
    )
    return client


def create_users(call_api, *user_ids: str) -> None:
    for user_id in user_ids:
        body = {"email": f"{user_id}@example.com", "name": user_id.upper()}
        assert call_api("POST", "/users", body=body, user=user_id).status == 201


def outbox_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"].startswith("OUTBOX#")]


def test_outbox_inserts_reach_the_bus_as_written(call_api, outbox, stream_records, publish, bus_events):
    create_users(call_api, "u1")
    assert call_api("PATCH", "/users/u1", body={"name": "Ann", "version": 1}).status == 200
    assert call_api("DELETE", "/users/u1").status == 204
    records = stream_records()
    assert len(outbox_records(records)) == 3 < len(records)  # profile and e-mail writes are on it too

    response = publish({"Records": records})

    assert response == {"batchItemFailures": []}
    published = bus_events()
    assert [(e["source"], e["detail-type"], e["detail"]) for e in published] == [
        ("shop.users", event["detail_type"], event["detail"]) for event in outbox()
    ]
    assert [e["detail-type"] for e in published] == ["UserCreated", "UserUpdated", "UserDeleted"]


def test_refused_events_are_reported_as_batch_item_failures_and_published_on_retry(
    call_api, stream_records, publish, eventbridge, bus_events
):
    create_users(call_api, "u1", "u2", "u3")
    records = stream_records()
    sequence_of = {
        r["dynamodb"]["NewImage"]["detail"]["S"]: r["dynamodb"]["SequenceNumber"]
        for r in outbox_records(records)
    }
    u2_sequence = next(
        seq for detail, seq in sequence_of.items() if json.loads(detail)["data"]["user_id"] == "u2"
    )
    eventbridge.refused = {"u2"}

    response = publish({"Records": records})

    assert response == {"batchItemFailures": [{"itemIdentifier": u2_sequence}]}
    assert sorted(e["detail"]["data"]["user_id"] for e in bus_events()) == ["u1", "u3"]

    # Lambda retries from the lowest reported record; the bus now accepts everything.
    eventbridge.refused = set()
    retry = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(u2_sequence)]
    assert publish({"Records": retry}) == {"batchItemFailures": []}
    assert "u2" in [e["detail"]["data"]["user_id"] for e in bus_events()]


def test_through_the_event_source_mapping_nothing_is_lost(call_api, plumbing, eventbridge, bus_events):
    create_users(call_api, "u1", "u2", "u3")
    eventbridge.refused = {"u1"}

    # The template's filter lets only the three outbox inserts through.
    assert plumbing.deliver_streams() == 3
    assert sorted(e["detail"]["data"]["user_id"] for e in bus_events()) == ["u2", "u3"]

    # The next round resumes at u1. Only streams are pumped: the other services' consumers of these
    # events have their own tests.
    eventbridge.refused = set()
    assert plumbing.deliver_streams() == 3
    assert plumbing.deliver_streams() == 0
    # At least once: u1 and what followed it are sent again; consumers deduplicate on event_id.
    assert {e["detail"]["data"]["user_id"] for e in bus_events()} == {"u1", "u2", "u3"}


def test_the_filter_applies_before_batching_as_lambda_does(call_api, aws, plumbing, bus_events):
    """Each POST /users writes three items (profile, e-mail claim, outbox): a batch of the mapping's
    BatchSize holds that many outbox records, not a third of them."""
    [mapping] = [m for m in plumbing.mappings if m.function.name == "shop-users-dev-publish-events"]
    create_users(call_api, *(f"u{n}" for n in range(mapping.batch_size + 5)))
    deliveries = []
    plumbing.on_delivery = deliveries.append

    assert plumbing.deliver_streams() == mapping.batch_size + 5

    assert [d.records for d in deliveries] == [mapping.batch_size, 5]
    assert len(bus_events()) == mapping.batch_size + 5


def test_a_batch_that_keeps_failing_goes_to_the_on_failure_queue(call_api, aws, plumbing, eventbridge):
    create_users(call_api, "u1")
    eventbridge.refused = {"u1"}

    for _ in range(12):  # the template allows 10 retries
        plumbing.deliver_streams()

    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=aws.physical_name("users", "StreamFailuresQueue"))["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
