"""Provisioning an endpoint that already holds the resources (the local stack restored from a
snapshot): their data stays, and what the templates changed since is applied in place."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.emulator.plumbing import MOTO_CONFIG
from devtools.emulator.provision import delete_rules_gone, provision
from devtools.template import Stacks

NOTIFICATIONS = "shop-notifications-dev"
NEW_INDEX = {
    "IndexName": "ByChannel",
    "KeySchema": [{"AttributeName": "channel", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
}


def _changed(stacks: Stacks) -> Stacks:
    """``stacks`` as after an edit: a new index and TTL on the notifications table, another visibility
    timeout on its queue, another comment in the fulfilment state machine."""
    changed = copy.deepcopy(stacks)
    table = changed.templates["notifications"].resources["NotificationsTable"]["Properties"]
    table["AttributeDefinitions"] = [
        *table["AttributeDefinitions"],
        {"AttributeName": "channel", "AttributeType": "S"},
    ]
    table["GlobalSecondaryIndexes"] = [NEW_INDEX]
    table["TimeToLiveSpecification"] = {"AttributeName": "expires_at", "Enabled": True}
    changed.templates["notifications"].resources["EventsQueue"]["Properties"]["VisibilityTimeout"] = 90
    machine = changed.templates["orders"].resources["FulfilmentStateMachine"]["Properties"]
    machine["Definition"] = machine["Definition"] | {"Comment": "changed"}
    return changed


def _queue_url(sqs: Any) -> str:
    return sqs.get_queue_url(QueueName=f"{NOTIFICATIONS}-events")["QueueUrl"]


def _state_machine(states: Any) -> dict[str, Any]:
    [machine] = [m for m in states.list_state_machines()["stateMachines"] if m["name"].endswith("fulfilment")]
    return states.describe_state_machine(stateMachineArn=machine["stateMachineArn"])


def test_provisioning_again_keeps_the_data_and_applies_the_changes(stacks: Stacks) -> None:
    with mock_aws(config=MOTO_CONFIG):
        session = boto3.Session()
        dynamodb, sqs, states = (session.client(name) for name in ("dynamodb", "sqs", "stepfunctions"))
        provision(stacks, session)
        item = {"PK": {"S": "USER#u1"}, "SK": {"S": "N#1"}, "channel": {"S": "email"}}
        dynamodb.put_item(TableName=NOTIFICATIONS, Item=item)
        sqs.send_message(QueueUrl=_queue_url(sqs), MessageBody="waiting")
        stream_before = dynamodb.describe_table(TableName="shop-users-dev")["Table"]["LatestStreamArn"]

        provision(stacks, session)  # unchanged: nothing to do, nothing refused
        provision(_changed(stacks), session)

        assert (
            dynamodb.get_item(TableName=NOTIFICATIONS, Key={"PK": item["PK"], "SK": item["SK"]})["Item"]
            == item
        )
        table = dynamodb.describe_table(TableName=NOTIFICATIONS)["Table"]
        assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["ByChannel"]
        by_channel = dynamodb.query(
            TableName=NOTIFICATIONS,
            IndexName="ByChannel",
            KeyConditionExpression="channel = :c",
            ExpressionAttributeValues={":c": {"S": "email"}},
        )
        assert by_channel["Items"] == [item]
        ttl = dynamodb.describe_time_to_live(TableName=NOTIFICATIONS)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
        assert (
            dynamodb.describe_table(TableName="shop-users-dev")["Table"]["LatestStreamArn"] == stream_before
        )

        queue = sqs.get_queue_attributes(QueueUrl=_queue_url(sqs), AttributeNames=["All"])["Attributes"]
        assert (queue["VisibilityTimeout"], queue["ApproximateNumberOfMessages"]) == ("90", "1")
        assert json.loads(_state_machine(states)["definition"])["Comment"] == "changed"


def test_provisioning_again_removes_what_the_templates_took_away_and_warns_of_what_it_cannot_change(
    stacks: Stacks, caplog: pytest.LogCaptureFixture
) -> None:
    changed = copy.deepcopy(stacks)
    changed.templates["notifications"].resources["UserEventsRule"]["Properties"]["Targets"] = []
    del changed.templates["users"].resources["UsersTable"]["Properties"]["StreamSpecification"]
    del changed.templates["users"].resources["UsersTable"]["Properties"]["TimeToLiveSpecification"]
    intake = changed.templates["orders"].resources["IntakeQueue"]["Properties"]
    del intake["RedrivePolicy"], intake["VisibilityTimeout"]
    orders = changed.templates["orders"].resources["OrdersTable"]["Properties"]
    orders["StreamSpecification"] = {"StreamViewType": "KEYS_ONLY"}
    rule = stacks.physical_name("notifications", "UserEventsRule")
    bus = stacks.resolve("notifications", stacks.templates["notifications"].resources["UserEventsRule"])
    bus = bus["Properties"]["EventBusName"].rsplit("/", 1)[-1]
    with mock_aws(config=MOTO_CONFIG):
        session = boto3.Session()
        dynamodb, events, sqs = (session.client(name) for name in ("dynamodb", "events", "sqs"))
        provision(stacks, session)
        intake_url = sqs.get_queue_url(QueueName="shop-orders-dev-intake")["QueueUrl"]
        assert events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]

        provision(changed, session)

        assert events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"] == []
        users_table = dynamodb.describe_table(TableName="shop-users-dev")["Table"]
        assert not users_table.get("StreamSpecification", {}).get("StreamEnabled")
        ttl = dynamodb.describe_time_to_live(TableName="shop-users-dev")["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "DISABLED"
        queue = sqs.get_queue_attributes(QueueUrl=intake_url, AttributeNames=["All"])["Attributes"]
        assert "RedrivePolicy" not in queue
        assert queue["VisibilityTimeout"] == "30"
        orders_table = dynamodb.describe_table(TableName="shop-orders-dev")["Table"]
        assert orders_table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"  # kept
    assert "table shop-orders-dev: its stream's view type changed in the template" in caplog.text


def test_a_rule_gone_from_the_templates_is_deleted_and_the_others_kept(stacks: Stacks) -> None:
    changed = copy.deepcopy(stacks)
    del changed.templates["notifications"].resources["UserEventsRule"]
    bus = stacks.resolve("notifications", stacks.templates["notifications"].resources["UserEventsRule"])
    bus = bus["Properties"]["EventBusName"].rsplit("/", 1)[-1]
    with mock_aws(config=MOTO_CONFIG):
        session = boto3.Session()
        events = session.client("events")
        provision(stacks, session)
        before = {rule["Name"] for rule in events.list_rules(EventBusName=bus)["Rules"]}

        delete_rules_gone(stacks, changed, session)

        after = {rule["Name"] for rule in events.list_rules(EventBusName=bus)["Rules"]}
    assert before - after == {stacks.physical_name("notifications", "UserEventsRule")}
    assert stacks.physical_name("notifications", "OrderEventsRule") in after
