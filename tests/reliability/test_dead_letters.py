"""Where a message or record goes when its consumer keeps failing, checked on the packaged templates
of every service: nowhere is it dropped, nothing blocks a queue or a shard forever, and every DLQ
is one ``make redrive`` can empty.

- every queue a function consumes has a DLQ (redrive policy), and the mapping reports partial
  batch failures, so one bad message is retried alone;
- a DLQ keeps messages longer than its source queue: SQS keeps a message's first enqueue time when
  it moves it, so an equal retention would let it expire soon after it arrived;
- a consumed queue hides a message for at least the function's timeout (else it is delivered again
  while still being processed; CloudFormation refuses the mapping);
- every stream mapping retries a bounded number of times, bisects failing batches, reports partial
  failures and has an on-failure destination;
- every EventBridge rule target has a dead-letter queue, for events the bus cannot deliver;
- every queue where failures land (those three kinds) has an alarm that fires on its first message
  and notifies someone: a message there waits for a person.
"""

from __future__ import annotations

import copy
import json

import boto3
import pytest

from devtools.ops.redrive import source_queues
from devtools.template import SERVICES, Stacks


def _queues(stacks: Stacks, service: str) -> dict[str, dict]:
    """Queue ARN -> resolved properties."""
    template = stacks.templates[service]
    return {
        stacks.arn(service, logical_id): stacks.resolve(service, props)
        for logical_id, props in template.of_type("AWS::SQS::Queue")
    }


def _functions(stacks: Stacks, service: str) -> dict[str, dict]:
    """Function name -> resolved properties."""
    return {
        stacks.resolve(service, props["FunctionName"]): stacks.resolve(service, props)
        for _, props in stacks.templates[service].of_type("AWS::Lambda::Function")
    }


def _redrive_policy(queue: dict) -> dict | None:
    policy = queue.get("RedrivePolicy")
    return json.loads(policy) if isinstance(policy, str) else policy


def _alarmed_queues(stacks: Stacks, service: str) -> set[str]:
    """Names of the queues an alarm watches from their first visible message, with an action."""
    alarmed = set()
    for _, raw in stacks.templates[service].of_type("AWS::CloudWatch::Alarm"):
        alarm = stacks.resolve(service, raw)
        fires_on_first = (
            alarm.get("Namespace") == "AWS/SQS"
            and alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and alarm.get("ComparisonOperator") == "GreaterThanThreshold"
            and float(alarm.get("Threshold", 1)) == 0
        )
        if fires_on_first and alarm.get("AlarmActions"):
            alarmed |= {d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == "QueueName"}
    return alarmed


def dead_letter_problems(stacks: Stacks, service: str) -> list[str]:
    queues, functions = _queues(stacks, service), _functions(stacks, service)
    problems = []
    failure_queues = set()  # ARNs
    for queue in queues.values():
        policy = _redrive_policy(queue)
        if policy is None:
            continue
        failure_queues.add(policy["deadLetterTargetArn"])
        dlq = queues.get(policy["deadLetterTargetArn"])
        if dlq is None:
            problems.append(f"{queue['QueueName']}: its DLQ is not in this stack")
        elif int(dlq.get("MessageRetentionPeriod", 345600)) <= int(
            queue.get("MessageRetentionPeriod", 345600)
        ):
            problems.append(f"{dlq['QueueName']} does not keep messages longer than {queue['QueueName']}")
    for _, raw in stacks.templates[service].of_type("AWS::Lambda::EventSourceMapping"):
        mapping = stacks.resolve(service, raw)
        function_name = str(mapping["FunctionName"]).rsplit(":", 1)[-1]
        source = mapping["EventSourceArn"]
        reports = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        origin = source.rsplit(":", 1)[-1] if ":sqs:" in source else source.split(":table/")[1].split("/")[0]
        where = f"{function_name} <- {origin}"
        if not reports:
            problems.append(f"{where}: does not report partial batch failures")
        if source.startswith("arn:aws:sqs:"):
            queue = queues.get(source, {})
            if _redrive_policy(queue) is None:
                problems.append(f"{where}: the queue has no dead-letter queue")
            timeout = int(functions[function_name].get("Timeout", 6))
            if int(queue.get("VisibilityTimeout", 30)) < timeout:
                problems.append(f"{where}: visibility timeout shorter than the function's {timeout} s")
        else:
            if int(mapping.get("MaximumRetryAttempts", -1)) < 0:
                problems.append(f"{where}: retries forever, blocking its shard")
            if not mapping.get("BisectBatchOnFunctionError"):
                problems.append(f"{where}: does not bisect a failing batch")
            destination = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if not destination:
                problems.append(f"{where}: no on-failure destination, a batch given up on is lost")
            elif ":sqs:" in destination:
                failure_queues.add(destination)
    for logical_id, raw in stacks.templates[service].of_type("AWS::Events::Rule"):
        for target in stacks.resolve(service, raw).get("Targets", []):
            dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
            if not dead_letters:
                problems.append(f"rule {logical_id} target {target['Id']}: no dead-letter queue")
            else:
                failure_queues.add(dead_letters)
    alarmed = _alarmed_queues(stacks, service)
    for arn in sorted(failure_queues):
        name = arn.rsplit(":", 1)[-1]
        if name not in alarmed:
            problems.append(f"{name}: no alarm on its first message, nobody learns of a failure")
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_nothing_is_dropped_and_nothing_blocks_a_consumer(stacks, service):
    problems = dead_letter_problems(stacks, service)
    assert not problems, "\n".join(problems)


def test_the_rules_have_consumers_to_check(stacks):
    mappings = [m for t in stacks.templates.values() for m in t.of_type("AWS::Lambda::EventSourceMapping")]
    assert len(mappings) >= 2


def test_every_dead_letter_queue_is_one_redrive_can_empty(aws):
    """``make redrive`` finds a DLQ's source through ``ListDeadLetterSourceQueues``: on the
    provisioned templates, each DLQ leads back to the queues whose redrive policy names it."""
    sqs = boto3.client("sqs")
    checked = 0
    for service in SERVICES:
        for queue in _queues(aws, service).values():
            policy = _redrive_policy(queue)
            if policy is None:
                continue
            dlq_url = sqs.get_queue_url(QueueName=policy["deadLetterTargetArn"].rsplit(":", 1)[-1])[
                "QueueUrl"
            ]
            sources = [url.rsplit("/", 1)[-1] for url in source_queues(sqs, dlq_url)]
            assert queue["QueueName"] in sources
            checked += 1
    assert checked >= 1


def _users_mapping(users: Stacks) -> dict:
    return next(
        resource["Properties"]
        for resource in users.templates["users"].resources.values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
    )


def _work_queues(resources: dict, dlq_retention: int) -> None:
    resources["Work"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": "work",
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDlq", "Arn"]},
                "maxReceiveCount": 5,
            },
        },
    }
    resources["WorkDlq"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"QueueName": "work-dlq", "MessageRetentionPeriod": dlq_retention},
    }
    resources["WorkDlqAlarm"] = copy.deepcopy(resources["StreamFailuresAlarm"])
    resources["WorkDlqAlarm"]["Properties"]["Dimensions"] = [{"Name": "QueueName", "Value": "work-dlq"}]


PUBLISHER = "shop-users-dev-publish-events <- shop-users-dev"
REGRESSIONS = {
    "retries forever": (
        lambda users: _users_mapping(users).update(MaximumRetryAttempts=-1),
        f"{PUBLISHER}: retries forever, blocking its shard",
    ),
    "no bisect": (
        lambda users: _users_mapping(users).pop("BisectBatchOnFunctionError"),
        f"{PUBLISHER}: does not bisect a failing batch",
    ),
    "no on-failure destination": (
        lambda users: _users_mapping(users).pop("DestinationConfig"),
        f"{PUBLISHER}: no on-failure destination, a batch given up on is lost",
    ),
    "no partial failures": (
        lambda users: _users_mapping(users).pop("FunctionResponseTypes"),
        f"{PUBLISHER}: does not report partial batch failures",
    ),
    "no alarm": (
        lambda users: users.templates["users"].resources.pop("StreamFailuresAlarm"),
        "shop-users-dev-stream-failures: no alarm on its first message, nobody learns of a failure",
    ),
    "DLQ retention": (
        lambda users: _work_queues(users.templates["users"].resources, dlq_retention=345600),
        "work-dlq does not keep messages longer than work",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_each_rule_catches_its_regression(mutate, expected):
    users = Stacks(services=("users",))  # a fresh copy of the template, ours to change
    assert not dead_letter_problems(users, "users")
    mutate(users)
    assert dead_letter_problems(users, "users") == [expected]
