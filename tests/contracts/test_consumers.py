"""Every consumer of bus events accepts every version of every event it subscribes to, and applies it.

What a consumer subscribes to comes from its packaged template: each EventBridge rule's pattern
(its sources and detail-types) and the queue it targets, whose event source mapping names the function.
What a producer may send is the committed JSON Schema of each version
(``schemas/<source>/<DetailType>.v<N>.json``, generated from ``shared/events``). For each version,
the simplest valid instance, with only its required fields and with every field, goes on the shared
bus as a producer of that version would put it; moto's rule routes it to the consumer's queue and
the plumbing hands it to the real handler, as Lambda's event source mapping would. The consumer must
neither fail it nor dead-letter it, and must leave the effect stated below for it.

A consumer added without its effect stated here fails (``EFFECTS``), as does a subscription no
producer publishes (no committed schema).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from devtools.emulator.lambda_runtime import functions
from devtools.emulator.plumbing import Plumbing, event_source_mappings
from devtools.template import ROOT, Stacks
from devtools.testkit.eventbridge import publish
from devtools.testkit.fixtures import item_reader
from devtools.testkit.mailbox import SentEmail
from devtools.testkit.schema_instances import instance
from shared.events.envelope import Envelope
from shared.events.users import UserCreated


@dataclass(frozen=True)
class Subscription:
    service: str
    function: str  # the function's short name in its serverless.yml
    queue_arn: str  # the queue the rule targets
    source: str
    detail_type: str


def subscriptions(stacks: Stacks) -> list[Subscription]:
    """Every (consumer, event) pair the packaged templates' rules route."""
    consumers = {
        mapping.source_arn: mapping.function
        for mapping in event_source_mappings(stacks, functions(stacks))
        if mapping.kind == "sqs"
    }
    found = []
    for service, template in stacks.templates.items():
        for _, raw in template.of_type("AWS::Events::Rule"):
            rule = stacks.resolve(service, raw)
            pattern = rule["EventPattern"]
            for target in rule["Targets"]:
                consumer = consumers[target["Arn"]]
                found += [
                    Subscription(consumer.service, consumer.short_name, target["Arn"], source, detail_type)
                    for source in pattern["source"]
                    for detail_type in pattern["detail-type"]
                ]
    return found


def versions(source: str, detail_type: str) -> list[int]:
    """The versions of an event its producer publishes: one committed schema each."""
    paths = (ROOT / "schemas" / source).glob(f"{detail_type}.v*.json")
    return sorted(int(path.stem.rsplit(".v", 1)[1]) for path in paths)


def schema(source: str, detail_type: str, version: int) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / source / f"{detail_type}.v{version}.json").read_text())


# -- what each consumer does with an event it accepted -------------------------------------------


@dataclass(frozen=True)
class World:
    aws: Stacks
    plumbing: Plumbing
    mailbox: Callable[[], list[SentEmail]]


def profile_copied(service: str, table: str) -> Callable[[World, str, dict], None]:
    """The user's profile copy in ``service``'s ``table`` follows the event."""

    def check(world: World, detail_type: str, data: dict) -> None:
        copy = item_reader(world.aws, service, table)(f"USER#{data['user_id']}", "PROFILE")
        assert copy is not None, f"no profile copy of {data['user_id']}"
        if detail_type == "UserDeleted":
            assert copy["deleted"] == {"BOOL": True}
            assert "email" not in copy
        else:
            assert copy["deleted"] == {"BOOL": False}
            assert copy["email"]["S"].lower() == data["email"].lower()

    return check


def notified(world: World, detail_type: str, data: dict) -> None:
    """Notifications: a user event changes the profile copy (a welcome e-mail for a new one); an
    order event is one notification recorded and e-mailed to the user."""
    if detail_type.startswith("User"):
        profile_copied("notifications", "NotificationsTable")(world, detail_type, data)
        if detail_type == "UserCreated":
            assert [email.to for email in world.mailbox()] == [[data["email"]]]
        return
    notifications = boto3.client("dynamodb").query(
        TableName=world.aws.physical_name("notifications", "NotificationsTable"),
        KeyConditionExpression="PK = :pk AND begins_with(SK, :notification)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{data['user_id']}"}, ":notification": {"S": "NOTIF#"}},
    )["Items"]
    assert [item["status"]["S"] for item in notifications if item["template"]["S"] != "welcome"] == ["sent"]
    assert len(world.mailbox()) == 2  # the welcome, then this one


def known_recipient(world: World, detail_type: str, data: dict) -> None:
    """An order event is notified to a user whose profile copy arrived first."""
    if detail_type.startswith("Order"):
        created = UserCreated(
            user_id=data["user_id"],
            email="ann@example.com",
            name="Ann",
            version=1,
            created_at=datetime.now(UTC),
        )
        publish(world.aws, Envelope.wrap(created, correlation_id="contract-given"))
        world.plumbing.deliver_queues()


@dataclass(frozen=True)
class Effect:
    check: Callable[[World, str, dict], None]
    given: Callable[[World, str, dict], None] = lambda world, detail_type, data: None


EFFECTS: dict[tuple[str, str], Effect] = {
    ("orders", "sync-profiles"): Effect(profile_copied("orders", "OrdersTable")),
    ("notifications", "deliver"): Effect(notified, given=known_recipient),
}


CASES = [
    pytest.param(
        subscription,
        version,
        every_field,
        id=f"{subscription.service}-{subscription.function}-"
        f"{subscription.detail_type}.v{version}-{'every-field' if every_field else 'required'}",
    )
    for subscription in subscriptions(Stacks())
    for version in versions(subscription.source, subscription.detail_type) or [0]
    for every_field in (False, True)
]


def test_every_consumer_states_its_effect_and_every_subscription_has_a_producer(stacks: Stacks):
    found = subscriptions(stacks)
    assert {(s.service, s.function) for s in found} == set(EFFECTS)
    assert [(s.source, s.detail_type) for s in found if not versions(s.source, s.detail_type)] == []


@pytest.mark.parametrize(("subscription", "version", "every_field"), CASES)
def test_the_consumer_accepts_and_applies_every_version_it_subscribes_to(
    subscription: Subscription, version: int, every_field: bool, aws: Stacks, plumbing: Plumbing, mailbox
):
    assert version, f"no producer publishes {subscription.source} {subscription.detail_type}"
    detail = instance(schema(subscription.source, subscription.detail_type, version), every_field=every_field)
    plumbing.mappings = [
        m
        for m in plumbing.mappings
        if (m.function.service, m.function.short_name) == (subscription.service, subscription.function)
    ]
    world = World(aws, plumbing, mailbox)
    effect = EFFECTS[(subscription.service, subscription.function)]
    effect.given(world, subscription.detail_type, detail["data"])

    events = boto3.client("events")
    entry = {
        "EventBusName": aws.physical_name("bus", "EventBus"),
        "Source": subscription.source,
        "DetailType": subscription.detail_type,
        "Detail": json.dumps(detail),
    }
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    assert plumbing.deliver_queues() == 1

    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=subscription.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "RedrivePolicy",
        ],
    )["Attributes"]
    dead_letter_arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
    dead_letter_url = sqs.get_queue_url(QueueName=dead_letter_arn.rsplit(":", 1)[1])["QueueUrl"]
    dead_lettered = sqs.receive_message(QueueUrl=dead_letter_url, MessageAttributeNames=["All"]).get(
        "Messages", []
    )
    assert [m["MessageAttributes"] for m in dead_lettered] == [], "dead-lettered"
    waiting = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert waiting == 0, "failed: left in its queue to be retried"
    effect.check(world, subscription.detail_type, detail["data"])
