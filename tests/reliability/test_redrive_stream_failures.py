"""``devtools.ops.redrive`` on a stream's on-failure queue, on moto: a ``PutEvents`` outage outlasts the
retries of the publisher's event source mapping, so its batches land in the on-failure queue (the
packaged mapping, through ``devtools.emulator.plumbing``); once the bus is back, the redrive publishes their
outbox events: each event once, and the queue ends empty. What it cannot replay stays in the queue.

Intents are the outbox items the services wrote; effects are the events a catch-all rule on the bus
delivered, compared by event id.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest

from devtools.emulator.plumbing import Plumbing
from devtools.emulator.provision import provision
from devtools.ops import redrive as redrive_module
from devtools.ops.redrive import GONE, redrive
from devtools.template import Stacks
from devtools.testkit.fixtures import read_outbox
from shared.events.envelope import Envelope
from shared.events.users import UserCreated
from shared.outbox import outbox_put
from shared.publisher import EventPublisher
from tests.reliability.consumers import only
from tests.reliability.faults import FlakyPutEvents, client_error
from tests.reliability.orders_support import ORDER, create_profiles

OUTAGE = 10**6  # PutEvents calls refused whole: more than any retries make
STILL_DOWN = "PutEvents did not take all its events: run again once the bus does"


def queue_url(aws: Stacks, service: str, logical_id: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=aws.physical_name(service, logical_id))["QueueUrl"]


def depth(url: str) -> int:
    """Messages in the queue, visible or not."""
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
    return sum(int(attributes[name]) for name in counts)


def give_up_on_every_batch(plumbing: Plumbing, max_rounds: int = 60) -> None:
    """Deliver the streams until their mappings retried every batch and gave up on it."""
    for _ in range(max_rounds):
        if plumbing.deliver_streams() == 0:
            return
    raise AssertionError(f"stream records still moving after {max_rounds} rounds")


def create_users(call_http, count: int) -> None:
    for index in range(count):
        user = f"u{index:02d}"
        body = {"email": f"{user}@example.com", "name": f"User {index}"}
        assert call_http("users", "POST", "/users", body=body, user=user).status == 201


@pytest.fixture
def redrive_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The redrive's publisher records its backoff waits instead of sleeping them."""
    waits: list[float] = []
    recording = functools.partial(EventPublisher, sleep=waits.append)
    monkeypatch.setattr(redrive_module, "EventPublisher", recording)
    return waits


def test_batches_given_up_on_during_an_outage_reach_the_bus_once_when_it_is_back(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits, redrive_waits
):
    publisher = "shop-users-dev-publish-events"
    [batch_size] = [m.batch_size for m in plumbing.mappings if m.function.name == publisher]
    users = batch_size + 5  # two batches: a full one and 5
    create_users(call_http, users)
    intents = [event["event_id"] for event in read_outbox(aws, "users")]
    publisher_waits("users")
    aws_faults.on("PutEvents", FlakyPutEvents(throttled_calls=OUTAGE))
    give_up_on_every_batch(plumbing)
    failures = queue_url(aws, "users", "StreamFailuresQueue")
    # One outbox record per user passes the mapping's filter (a profile and an e-mail claim do not)
    assert depth(failures) == 2
    assert bus_recorder.event_ids() == {}

    # While the bus still refuses, a redrive keeps every message and says why.
    still_down = redrive(boto3.client("sqs"), failures, wait_seconds=0)

    assert (still_down.moved, still_down.kept) == ({}, {STILL_DOWN: 2})
    assert redrive_waits, "the publisher's own retries ran"
    assert depth(failures) == still_down.left == 2
    assert bus_recorder.event_ids() == {}

    del aws_faults.faults["PutEvents"]  # the bus is back
    report = redrive(boto3.client("sqs"), failures, wait_seconds=0)

    received = bus_recorder.event_ids()
    assert len(intents) == users
    assert set(received) == set(intents), "an event was lost"
    assert [event for event, count in received.items() if count > 1] == [], "an event was duplicated"
    assert report.moved == {"bus shop-dev": 2}
    assert report.events == {"bus shop-dev": users}
    assert (report.kept, report.came_back, report.left) == ({}, 0, 0)
    assert depth(failures) == 0
    assert plumbing.deliver_streams() == 0, "the mapping moved on: nothing else is sent"


def test_a_batch_whose_records_left_the_stream_is_kept_and_reported(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits
):
    create_users(call_http, 3)
    publisher_waits("users")
    aws_faults.on("PutEvents", FlakyPutEvents(throttled_calls=OUTAGE))
    give_up_on_every_batch(plumbing)
    del aws_faults.faults["PutEvents"]
    failures = queue_url(aws, "users", "StreamFailuresQueue")

    def trimmed(call, params):  # what DynamoDB Streams answers for a record older than 24 hours
        raise client_error("TrimmedDataAccessException", "GetShardIterator", "data has been trimmed")

    aws_faults.on("GetShardIterator", trimmed)
    report = redrive(boto3.client("sqs"), failures, wait_seconds=0)

    assert (report.moved, report.kept) == ({}, {GONE: 1})
    assert f"1 message(s) left in shop-users-dev-stream-failures: {GONE}" in report.lines()
    assert depth(failures) == report.left == 1
    assert bus_recorder.event_ids() == {}


def test_only_the_publisher_batches_of_a_shared_on_failure_queue_are_replayed(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits
):
    """Orders' publisher and start-fulfilment report to one queue; the redrive replays the outbox
    and leaves start-fulfilment's batch, which holds no event, to the operator."""
    create_profiles(aws, plumbing, "u1")
    for _ in range(3):
        assert call_http("orders", "POST", "/orders", body=ORDER, user="u1").status == 202
    only(plumbing, "orders", "process-intake")
    while plumbing.deliver_queues():
        pass
    intents = [event["event_id"] for event in read_outbox(aws, "orders")]
    publisher_waits("orders")
    aws_faults.on("PutEvents", FlakyPutEvents(throttled_calls=OUTAGE))

    def unavailable(call, params):
        raise client_error("ServiceUnavailable", "StartExecution")

    aws_faults.on("StartExecution", unavailable)
    only(plumbing, "orders", "publish-events", "start-fulfilment")
    give_up_on_every_batch(plumbing)
    failures = queue_url(aws, "orders", "StreamFailuresQueue")
    assert depth(failures) == 2
    del aws_faults.faults["PutEvents"]

    report = redrive(boto3.client("sqs"), failures, wait_seconds=0)

    received = Counter(e["detail"]["metadata"]["event_id"] for e in bus_recorder.events("shop.orders"))
    assert len(intents) == 3
    assert received == dict.fromkeys(intents, 1)
    assert (report.moved, report.events) == ({"bus shop-dev": 1}, {"bus shop-dev": 3})
    start_fulfilment = "shop-orders-dev-start-fulfilment"
    assert report.kept == {f"a batch of {start_fulfilment}, not an outbox publisher: nothing to republish": 1}
    assert depth(failures) == report.left == 1


def test_the_command_republishes_through_the_local_endpoint(stacks, local_endpoint, redrive_command):
    """``make redrive`` against the local stack's endpoint: the templates name the bus, the endpoint
    holds the stream, the queue and the bus."""
    session = boto3.Session()
    provision(stacks, session, local_endpoint)
    dynamodb, streams, sqs, events = (
        session.client(name, endpoint_url=local_endpoint)
        for name in ("dynamodb", "dynamodbstreams", "sqs", "events")
    )
    recorder = sqs.create_queue(QueueName="test-bus-recorder")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=recorder, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="all", EventBusName="shop-dev", EventPattern=json.dumps({"source": ["shop.users"]}))
    events.put_targets(
        Rule="all", EventBusName="shop-dev", Targets=[{"Id": "r", "Arn": attributes["QueueArn"]}]
    )
    # An outbox item written as the users API writes it, and what Lambda reports after giving up on it.
    event = Envelope.wrap(
        UserCreated(user_id="u1", email="u1@example.com", name="U1", version=1, created_at=datetime.now(UTC)),
        correlation_id="corr-1",
    )
    dynamodb.transact_write_items(TransactItems=[outbox_put("shop-users-dev", event)])
    stream_arn = dynamodb.describe_table(TableName="shop-users-dev")["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    sequence = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    batch = {"shardId": shard["ShardId"], "startSequenceNumber": sequence, "endSequenceNumber": sequence}
    function_arn = stacks.arn("users", "PublishDasheventsLambdaFunction")
    failure = {
        "requestContext": {"functionArn": function_arn},
        "DDBStreamBatchInfo": batch | {"streamArn": stream_arn},
    }
    failures = sqs.get_queue_url(QueueName="shop-users-dev-stream-failures")["QueueUrl"]
    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps(failure))

    run = redrive_command("users-stream-failures")

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"redriving shop-users-dev-stream-failures on {local_endpoint}",
        "moved 1 message(s) shop-users-dev-stream-failures -> bus shop-dev"
        " (1 outbox event(s) published again)",
        "shop-users-dev-stream-failures now holds about 0 message(s)",
    ]
    [delivered] = sqs.receive_message(QueueUrl=recorder)["Messages"]
    assert json.loads(delivered["Body"])["detail"]["metadata"]["event_id"] == event.metadata.event_id
