"""The users service's events under faults, end to end on moto: API writes → table stream → the
real outbox publisher Lambda (through the event source mapping of the packaged template) →
``PutEvents`` → a catch-all rule on the shared bus → an SQS queue where every event is counted.

Intents are the outbox items the API wrote; effects are the events that reached the bus.
"""

from __future__ import annotations

import boto3
import pytest

from devtools.emulator.plumbing import Plumbing
from devtools.template import Stacks
from shared.publisher import MAX_ENTRIES_PER_CALL
from tests.reliability.faults import FlakyPutEvents, KillAfter, LambdaKilled

PUBLISHER_ATTEMPTS = 5  # shared.publisher.EventPublisher's default max_attempts


def make_changes(call_http, users: int, patched: int, deleted: int) -> None:
    for index in range(users):
        user = f"u{index:02d}"
        body = {"email": f"{user}@example.com", "name": f"User {index}"}
        assert call_http("users", "POST", "/users", body=body, user=user).status == 201
    for index in range(patched):
        user = f"u{index:02d}"
        body = {"name": f"Renamed {index}", "version": 1}
        assert call_http("users", "PATCH", f"/users/{user}", body=body, user=user).status == 200
    for index in range(users - deleted, users):
        assert call_http("users", "DELETE", f"/users/u{index:02d}", user=f"u{index:02d}").status == 204


def outbox_event_ids(aws: Stacks) -> list[str]:
    """The events the API wrote to the outbox, in the order of the table's stream."""
    table = aws.physical_name("users", "UsersTable")
    stream_arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    ids = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
            key = record["dynamodb"]["Keys"]["PK"]["S"]
            if record["eventName"] == "INSERT" and key.startswith("OUTBOX#"):
                ids.append(key.removeprefix("OUTBOX#"))
    return ids


def publish_all(plumbing: Plumbing, max_rounds: int = 20) -> int:
    """Run the stream consumers until no record is delivered; returns the rounds that moved records.
    Only streams: the other services' queue consumers of these events have their own tests."""
    for rounds in range(max_rounds):
        if plumbing.deliver_streams() == 0:
            return rounds
    raise AssertionError(f"stream records still moving after {max_rounds} rounds")


@pytest.mark.parametrize(
    "flaky",
    [
        pytest.param(lambda: FlakyPutEvents(refused_share=0.3), id="30% of entries refused"),
        pytest.param(lambda: FlakyPutEvents(throttled_calls=PUBLISHER_ATTEMPTS - 1), id="throttled"),
        pytest.param(lambda: FlakyPutEvents(refused_share=0.3, throttled_calls=2), id="both"),
    ],
)
def test_every_event_reaches_the_bus_exactly_once_under_put_events_faults(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits, flaky
):
    make_changes(call_http, users=30, patched=15, deleted=5)
    intents = outbox_event_ids(aws)
    assert len(intents) == 50
    waits = publisher_waits("users")
    fault = aws_faults.on("PutEvents", flaky())

    rounds = publish_all(plumbing)

    received = bus_recorder.event_ids()
    assert set(received) == set(intents), "an event was lost"
    assert [event for event, count in received.items() if count > 1] == [], "an event was duplicated"
    # The faults happened, and the publisher's own retries absorbed them within one invocation.
    assert fault.refused + fault.throttled > 0
    assert fault.calls > len(intents) / MAX_ENTRIES_PER_CALL
    assert len(waits) >= 1
    assert rounds == 1


def test_an_outage_longer_than_the_publisher_retries_loses_nothing(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits
):
    """The first call of the batch is refused on every attempt, the second goes through: the
    invocation reports the first call's records as failed, and Lambda retries the batch from the
    first of them. Nothing is lost; what is delivered twice is only what followed a refused event
    (delivery is at least once, and consumers deduplicate on ``metadata.event_id``)."""
    make_changes(call_http, users=2 * MAX_ENTRIES_PER_CALL, patched=0, deleted=0)
    intents = outbox_event_ids(aws)
    publisher_waits("users")
    aws_faults.on("PutEvents", FlakyPutEvents(throttled_calls=PUBLISHER_ATTEMPTS))

    assert publish_all(plumbing) == 2  # the failed invocation, then its retry

    received = bus_recorder.event_ids()
    assert set(received) == set(intents), "an event was lost"
    first_refused = intents[0]
    twice = {event for event, count in received.items() if count > 1}
    assert twice <= set(intents[intents.index(first_refused) + 1 :])
    assert max(received.values()) <= 2


CHANGES = {
    # change: (setup requests, the request that is killed after its write, its retry's status, event)
    "create": ([], ("POST", "/users", {"email": "ann@example.com", "name": "Ann"}), 409, "UserCreated"),
    "update": (
        [("POST", "/users", {"email": "ann@example.com", "name": "Ann"})],
        ("PATCH", "/users/u1", {"name": "Anne", "version": 1}),
        409,
        "UserUpdated",
    ),
    "delete": (
        [("POST", "/users", {"email": "ann@example.com", "name": "Ann"})],
        ("DELETE", "/users/u1", None),
        404,
        "UserDeleted",
    ),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_lambda_killed_after_its_write_still_sends_the_event_once(
    call_http, aws, aws_faults, plumbing, bus_recorder, change
):
    setup, (method, path, body), retry_status, detail_type = change
    for setup_method, setup_path, setup_body in setup:
        assert call_http("users", setup_method, setup_path, body=setup_body).status < 300
    kill = aws_faults.on("TransactWriteItems", KillAfter())

    with pytest.raises(LambdaKilled):
        call_http("users", method, path, body=body)
    # API Gateway answered 5xx, so the client tries again: the write is already done.
    retry = call_http("users", method, path, body=body)
    publish_all(plumbing)

    assert kill.kills == 1
    assert retry.status == retry_status
    events = [e for e in bus_recorder.events() if e["detail-type"] == detail_type]
    assert len(events) == 1
    assert events[0]["detail"]["data"]["user_id"] == "u1"
    assert len(bus_recorder.received) == len(setup) + 1  # and nothing else was sent
