"""Create what the packaged templates declare in an AWS endpoint: moto in process (tests) or moto
in server mode (the local stack).

Only the resources a request or an event touches are created: DynamoDB tables (keys, indexes,
streams, TTL), SQS queues (with their redrive policies), event buses, rules with their patterns
and non-Lambda targets, and state machines. IAM, logs, API Gateway and Lambda itself are not
emulated here; the local stack and the tests invoke the handlers in process.

Provisioning an endpoint that already holds them (the local stack restored from a snapshot) keeps
their data and applies what the templates changed since, where that can be done in place, as a
stack update would: a table's new or removed global secondary indexes, its stream (enabled or
disabled) and its TTL (enabled or disabled); a queue's attributes (one the template no longer sets
goes back to SQS's default); a rule's pattern and targets (those gone removed); a state machine's
definition. A table whose key schema or stream view type changed cannot be updated
in place: it is left as it is, with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from devtools.template import Stacks

log = logging.getLogger("devtools.emulator.provision")

# CloudFormation table properties that the CreateTable API takes under the same name.
_TABLE_KEYS = ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
_RULE_TARGET_KEYS = ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters")
# What a queue the template no longer gives one of these attributes goes back to: SQS's defaults for
# a new queue (a redrive policy: none).
_QUEUE_DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "RedrivePolicy": "",
}


def provision(
    stacks: Stacks, session: Any, endpoint_url: str | None = None, services: Iterable[str] | None = None
) -> None:
    """Create every table, queue, bus, rule and state machine of ``stacks`` (of its ``services``
    only, when given) through ``session``."""

    def client(name: str) -> Any:
        return session.client(name, region_name=stacks.region, endpoint_url=endpoint_url)

    dynamodb, sqs, events, states = (
        client("dynamodb"),
        client("sqs"),
        client("events"),
        client("stepfunctions"),
    )
    for service, template in stacks.templates.items():
        if services is not None and service not in services:
            continue
        resolved = {
            logical_id: stacks.resolve(service, resource.get("Properties", {}))
            for logical_id, resource in template.resources.items()
        }
        types = {logical_id: resource["Type"] for logical_id, resource in template.resources.items()}

        def of_type(resource_type: str, types: dict = types, resolved: dict = resolved) -> list[dict]:
            return [resolved[logical_id] for logical_id, kind in types.items() if kind == resource_type]

        for props in of_type("AWS::DynamoDB::Table"):
            _create_table(dynamodb, props)
        # Dead-letter queues first: a redrive policy names an existing queue.
        queues = sorted(of_type("AWS::SQS::Queue"), key=lambda p: "RedrivePolicy" in p)
        for props in queues:
            _create_queue(sqs, props)
        for props in of_type("AWS::Events::EventBus"):
            # A bus has nothing the templates set but its name.
            with suppress(events.exceptions.ResourceAlreadyExistsException):
                events.create_event_bus(Name=props["Name"])
        for logical_id, kind in types.items():
            if kind == "AWS::Events::Rule":
                _create_rule(events, stacks.physical_name(service, logical_id), resolved[logical_id])
        for logical_id, kind in types.items():
            if kind == "AWS::StepFunctions::StateMachine":
                _create_state_machine(states, stacks.physical_name(service, logical_id), resolved[logical_id])


def delete_rules_gone(old: Stacks, new: Stacks, session: Any, endpoint_url: str | None = None) -> None:
    """Delete the rules of ``old`` that ``new`` no longer holds (a service packaged again): left,
    they would route events still. Tables, queues and the rest are kept, with their data."""
    events = session.client("events", region_name=new.region, endpoint_url=endpoint_url)
    for service, template in old.templates.items():
        for logical_id, props in template.of_type("AWS::Events::Rule"):
            name = old.physical_name(service, logical_id)
            if (
                logical_id in new.templates[service].resources
                and new.physical_name(service, logical_id) == name
            ):
                continue
            bus = str(old.resolve(service, props.get("EventBusName", "default"))).rsplit("/", 1)[-1]
            with suppress(events.exceptions.ResourceNotFoundException):
                targets = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
                if targets:
                    events.remove_targets(Rule=name, EventBusName=bus, Ids=[t["Id"] for t in targets])
                events.delete_rule(Name=name, EventBusName=bus)


def _create_table(dynamodb: Any, props: dict[str, Any]) -> None:
    request = {key: props[key] for key in _TABLE_KEYS if key in props}
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    try:
        dynamodb.create_table(**request)
    except dynamodb.exceptions.ResourceInUseException:
        _update_table(dynamodb, request)
    ttl = props.get("TimeToLiveSpecification") or {}
    current = dynamodb.describe_time_to_live(TableName=props["TableName"])["TimeToLiveDescription"]
    if ttl.get("Enabled"):
        if (
            current.get("TimeToLiveStatus") != "ENABLED"
            or current.get("AttributeName") != ttl["AttributeName"]
        ):
            dynamodb.update_time_to_live(
                TableName=props["TableName"],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    elif current.get("TimeToLiveStatus") == "ENABLED":  # turned off in the template since
        dynamodb.update_time_to_live(
            TableName=props["TableName"],
            TimeToLiveSpecification={"AttributeName": current["AttributeName"], "Enabled": False},
        )


def _update_table(dynamodb: Any, request: dict[str, Any]) -> None:
    """Bring an existing table to ``request`` (a CreateTable request) without losing its items."""
    name = request["TableName"]
    table = dynamodb.describe_table(TableName=name)["Table"]
    if table["KeySchema"] != request["KeySchema"]:
        log.warning(
            "table %s: its key schema changed in the template; kept as it was (FRESH=1 recreates it)",
            name,
        )
        return
    wanted = {index["IndexName"]: index for index in request.get("GlobalSecondaryIndexes", [])}
    existing = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    for index_name, index in existing.items():
        if index_name not in wanted or _index_shape(index) != _index_shape(wanted[index_name]):
            dynamodb.update_table(
                TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index_name}}]
            )
    for index_name, index in wanted.items():
        if index_name not in existing or _index_shape(existing[index_name]) != _index_shape(index):
            dynamodb.update_table(
                TableName=name,
                AttributeDefinitions=request["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
    stream, current = request.get("StreamSpecification"), table.get("StreamSpecification") or {}
    if stream and not current.get("StreamEnabled"):
        dynamodb.update_table(TableName=name, StreamSpecification=stream)
    elif stream and current["StreamViewType"] != stream["StreamViewType"]:
        log.warning(
            "table %s: its stream's view type changed in the template; kept as it was (FRESH=1 recreates it)",
            name,
        )
    elif not stream and current.get("StreamEnabled"):
        dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})


def _index_shape(index: dict[str, Any]) -> tuple:
    return (index["KeySchema"], index["Projection"])


def _create_queue(sqs: Any, props: dict[str, Any]) -> None:
    attributes = {}
    for key, value in props.items():
        if key in ("QueueName", "Tags"):
            continue
        if isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        attributes[key] = str(value)
    try:
        queue_url = sqs.get_queue_url(QueueName=props["QueueName"])["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)
        return
    # It exists (CreateQueue would not say so when the attributes it is given match): the template's
    # attributes win, and its messages stay.
    attributes.pop("FifoQueue", None)  # fixed at creation
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=_QUEUE_DEFAULTS | attributes)


def _create_rule(events: Any, name: str, props: dict[str, Any]) -> None:
    bus = props.get("EventBusName", "default")
    bus = bus.rsplit("/", 1)[-1]  # the property takes a name or an ARN
    events.put_rule(
        Name=name,
        EventBusName=bus,
        EventPattern=json.dumps(props["EventPattern"]),
        State=props.get("State", "ENABLED"),
    )
    # A rule whose target is a Lambda function makes moto's PutEvents fail; the local stack
    # delivers those itself, and the services target SQS queues and state machines anyway.
    targets = [
        {key: target[key] for key in _RULE_TARGET_KEYS if key in target}
        for target in props.get("Targets", [])
        if ":lambda:" not in target["Arn"]
    ]
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    wanted = {target["Id"] for target in targets}
    gone = [
        target["Id"]
        for target in events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        if target["Id"] not in wanted
    ]
    if gone:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=gone)


def _create_state_machine(states: Any, name: str, props: dict[str, Any]) -> None:
    definition = props.get("DefinitionString") or json.dumps(props["Definition"])
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    # An existing state machine of that name is returned as it is (its executions kept): update it.
    arn = states.create_state_machine(name=name, definition=definition, roleArn=props["RoleArn"])[
        "stateMachineArn"
    ]
    current = states.describe_state_machine(stateMachineArn=arn)
    if (current["definition"], current["roleArn"]) != (definition, props["RoleArn"]):
        states.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=props["RoleArn"])
