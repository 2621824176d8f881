"""What tells someone that something went wrong, checked on the packaged templates:

- every state machine logs its errors to a log group of its own stack that has a retention, traces
  with X-Ray, and a failed execution raises an alarm;
- every HTTP API raises an alarm on its first 5xx (bad input is a 4xx by design, so a 5xx is a fault).

An alarm counts only with an action (the service's ``AlarmTopic``). Dead-letter queues have their
own alarms, checked with the rest of their rules in tests/reliability/test_dead_letters.py.
"""

from __future__ import annotations

import pytest

from devtools.template import SERVICES, Stacks


def _logical_id_of_log_group(stacks: Stacks, service: str, arn: str) -> str | None:
    for logical_id, _ in stacks.templates[service].of_type("AWS::Logs::LogGroup"):
        if stacks.arn(service, logical_id) == arn:
            return logical_id
    return None


def _watched(stacks: Stacks, service: str, namespace: str, metric: str, dimension: str) -> set[str]:
    """Values of ``dimension`` that an alarm with an action watches ``metric`` of, from its first."""
    watched = set()
    for _, raw in stacks.templates[service].of_type("AWS::CloudWatch::Alarm"):
        alarm = stacks.resolve(service, raw)
        if (
            (alarm.get("Namespace"), alarm.get("MetricName")) == (namespace, metric)
            and alarm.get("ComparisonOperator") == "GreaterThanThreshold"
            and float(alarm.get("Threshold", 1)) == 0
            and alarm.get("AlarmActions")
        ):
            watched |= {d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == dimension}
    return watched


def observability_problems(stacks: Stacks, service: str) -> list[str]:
    template = stacks.templates[service]
    alarmed = _watched(stacks, service, "AWS/States", "ExecutionsFailed", "StateMachineArn")
    problems = []
    for logical_id, raw in template.of_type("AWS::StepFunctions::StateMachine"):
        machine = stacks.resolve(service, raw)
        logging = machine.get("LoggingConfiguration", {})
        destinations = [d["CloudWatchLogsLogGroup"]["LogGroupArn"] for d in logging.get("Destinations", [])]
        groups = [_logical_id_of_log_group(stacks, service, arn) for arn in destinations]
        if logging.get("Level") not in ("ERROR", "ALL") or not destinations:
            problems.append(f"{logical_id}: does not log its errors")
        elif None in groups or not all(
            template.resources[g]["Properties"].get("RetentionInDays") for g in groups
        ):
            problems.append(
                f"{logical_id}: logs to a log group that is not its stack's or keeps logs forever"
            )
        if not machine.get("TracingConfiguration", {}).get("Enabled"):
            problems.append(f"{logical_id}: not traced")
        if stacks.arn(service, logical_id) not in alarmed:
            problems.append(f"{logical_id}: no alarm on failed executions")
    apis_alarmed = _watched(stacks, service, "AWS/ApiGateway", "5xx", "ApiId")
    for logical_id, _ in template.of_type("AWS::ApiGatewayV2::Api"):
        if stacks.ref(service, logical_id) not in apis_alarmed:
            problems.append(f"{logical_id}: no alarm on 5xx answers")
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_every_state_machine_and_api_is_watched(stacks, service):
    assert observability_problems(stacks, service) == []


@pytest.mark.parametrize("resource_type", ["AWS::StepFunctions::StateMachine", "AWS::ApiGatewayV2::Api"])
def test_there_is_something_to_check(stacks, resource_type):
    assert any(list(t.of_type(resource_type)) for t in stacks.templates.values())


def _machine(orders: Stacks) -> dict:
    return orders.templates["orders"].resources["FulfilmentStateMachine"]["Properties"]


REGRESSIONS = {
    "no logging": (
        lambda orders: _machine(orders).pop("LoggingConfiguration"),
        "FulfilmentStateMachine: does not log its errors",
    ),
    "no retention": (
        lambda orders: (
            orders.templates["orders"].resources["FulfilmentLogGroup"]["Properties"].pop("RetentionInDays")
        ),
        "FulfilmentStateMachine: logs to a log group that is not its stack's or keeps logs forever",
    ),
    "no tracing": (
        lambda orders: _machine(orders).pop("TracingConfiguration"),
        "FulfilmentStateMachine: not traced",
    ),
    "no alarm": (
        lambda orders: orders.templates["orders"].resources.pop("FulfilmentFailuresAlarm"),
        "FulfilmentStateMachine: no alarm on failed executions",
    ),
    "alarm without action": (
        lambda orders: (
            orders.templates["orders"].resources["FulfilmentFailuresAlarm"]["Properties"].pop("AlarmActions")
        ),
        "FulfilmentStateMachine: no alarm on failed executions",
    ),
    "no 5xx alarm": (
        lambda orders: orders.templates["orders"].resources.pop("ApiServerErrorsAlarm"),
        "HttpApi: no alarm on 5xx answers",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_each_rule_catches_its_regression(mutate, expected):
    orders = Stacks(services=("orders",))  # a fresh copy of the template, ours to change
    assert observability_problems(orders, "orders") == []
    mutate(orders)
    assert observability_problems(orders, "orders") == [expected]
