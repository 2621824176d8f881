"""Every state machine can be watched, checked on the packaged templates: it logs its errors to a log
group of its own stack that has a retention, traces with X-Ray, and a failed execution raises an
alarm that notifies someone.
"""

from __future__ import annotations

import pytest

from devtools.template import SERVICES, Stacks


def _logical_id_of_log_group(stacks: Stacks, service: str, arn: str) -> str | None:
    for logical_id, _ in stacks.templates[service].of_type("AWS::Logs::LogGroup"):
        if stacks.arn(service, logical_id) == arn:
            return logical_id
    return None


def _failure_alarms(stacks: Stacks, service: str) -> set[str]:
    """ARNs of the state machines an alarm watches for failed executions, with an action."""
    watched = set()
    for _, raw in stacks.templates[service].of_type("AWS::CloudWatch::Alarm"):
        alarm = stacks.resolve(service, raw)
        if (
            alarm.get("Namespace") == "AWS/States"
            and alarm.get("MetricName") == "ExecutionsFailed"
            and alarm.get("AlarmActions")
        ):
            watched |= {d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == "StateMachineArn"}
    return watched


def observability_problems(stacks: Stacks, service: str) -> list[str]:
    template = stacks.templates[service]
    alarmed = _failure_alarms(stacks, service)
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
    return problems


@pytest.mark.parametrize("service", SERVICES)
def test_every_state_machine_can_be_watched(stacks, service):
    assert observability_problems(stacks, service) == []


def test_there_is_a_state_machine_to_check(stacks):
    assert any(list(t.of_type("AWS::StepFunctions::StateMachine")) for t in stacks.templates.values())


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
}


@pytest.mark.parametrize(("mutate", "expected"), REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_each_rule_catches_its_regression(mutate, expected):
    orders = Stacks(services=("orders",))  # a fresh copy of the template, ours to change
    assert observability_problems(orders, "orders") == []
    mutate(orders)
    assert observability_problems(orders, "orders") == [expected]
