"""Each service's dashboard and p99 latency alarm, read from the packaged templates.

The dashboard's body is parsed as CloudWatch would read it, after CloudFormation's substitutions:
its metric widgets must name the service's own HTTP API, every function, queue, rule on the bus
and state machine of its template, and its log widgets must read the API's access log per route
(the access log carries each request's latency for that).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.template import APP_SERVICES, HTTP_SERVICES, Stacks, with_changed_resources


def dashboard_body(stacks: Stacks, service: str) -> dict[str, Any]:
    ((_, props),) = stacks.templates[service].of_type("AWS::CloudWatch::Dashboard")
    return json.loads(stacks.resolve(service, props["DashboardBody"]))


def watched(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every metric of every metric widget."""
    found = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            namespace, metric, *dimensions = [item for item in row if isinstance(item, str)]
            found |= {(namespace, metric, value) for value in dimensions[1::2]}
    return found


def dashboard_gaps(stacks: Stacks, service: str) -> list[str]:
    template = stacks.templates[service]
    body = dashboard_body(stacks, service)
    metrics = watched(body)
    queries = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    gaps = []

    def need(namespace: str, metric: str, value: str, what: str) -> None:
        if (namespace, metric, value) not in metrics:
            gaps.append(f"{what}: no {namespace} {metric}")

    for logical_id, _ in template.of_type("AWS::ApiGatewayV2::Api"):
        for metric in ("Count", "4xx", "5xx", "Latency"):
            need("AWS/ApiGateway", metric, stacks.ref(service, logical_id), logical_id)
    for logical_id, _ in template.of_type("AWS::Lambda::Function"):
        for metric in ("Errors", "Throttles", "Duration"):
            need("AWS/Lambda", metric, stacks.physical_name(service, logical_id), logical_id)
    for logical_id, _ in template.of_type("AWS::SQS::Queue"):
        need(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            stacks.physical_name(service, logical_id),
            logical_id,
        )
    for logical_id, _ in template.of_type("AWS::Events::Rule"):
        for metric in ("MatchedEvents", "Invocations", "FailedInvocations"):
            need("AWS/Events", metric, stacks.physical_name(service, logical_id), logical_id)
    for logical_id, _ in template.of_type("AWS::StepFunctions::StateMachine"):
        for metric in ("ExecutionsSucceeded", "ExecutionsFailed"):
            need("AWS/States", metric, stacks.arn(service, logical_id), logical_id)
    if "HttpApi" not in template.resources:  # a consumer has no HTTP API, so no access log
        return gaps
    access_log = stacks.physical_name(service, "HttpApiLogGroup")
    per_route = [q for q in queries if f"SOURCE '{access_log}'" in q and "by routeKey" in q]
    if not any("pct(responseLatency, 99)" in q and "pct(responseLatency, 50)" in q for q in per_route):
        gaps.append("no p50 / p99 latency per route from the access log")
    if not any("status >= 400" in q for q in per_route):
        gaps.append("no 4xx / 5xx answers per route from the access log")
    return gaps


@pytest.mark.parametrize("service", APP_SERVICES)
def test_the_dashboard_shows_every_api_function_queue_rule_and_state_machine(stacks, service):
    assert dashboard_gaps(stacks, service) == []


def test_the_orders_dashboard_shows_fulfilment_outcomes_and_events_out(stacks):
    metrics = watched(dashboard_body(stacks, "orders"))
    publisher = stacks.physical_name("orders", "PublishDasheventsLambdaFunction")
    assert {("AWS/Lambda", "IteratorAge", publisher), ("shop", "OrdersConfirmed", "orders")} <= metrics


@pytest.mark.parametrize("service", APP_SERVICES)
def test_the_dashboard_holds_no_more_metrics_than_a_free_one(stacks, service):
    """An account's first three dashboards are free with up to 50 metrics each (`make cost` counts
    them free); a 51st metric makes this one billed."""
    body = dashboard_body(stacks, service)
    assert sum(len(widget["properties"].get("metrics", [])) for widget in body["widgets"]) <= 50


def test_a_queue_missing_from_the_dashboard_is_found():
    def add_queue(resources: dict) -> None:
        resources["ForgottenQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "forgotten"}}

    assert dashboard_gaps(with_changed_resources("orders", add_queue), "orders") == [
        "ForgottenQueue: no AWS/SQS ApproximateNumberOfMessagesVisible"
    ]


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_the_access_log_carries_each_requests_latency(stacks, service):
    log_format = json.loads(
        stacks.templates[service].resources["HttpApiStage"]["Properties"]["AccessLogSettings"]["Format"]
    )
    assert log_format["routeKey"] == "$context.routeKey"
    assert log_format["responseLatency"] == "$context.responseLatency"
    # The framework's own settings of the stage are kept beside it.
    assert (
        "ThrottlingRateLimit"
        in stacks.templates[service].resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    )


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_a_p99_latency_alarm_watches_the_api(stacks, service):
    alarms = [
        stacks.resolve(service, props)
        for _, props in stacks.templates[service].of_type("AWS::CloudWatch::Alarm")
    ]
    api = stacks.ref(service, "HttpApi")
    latency = [
        alarm
        for alarm in alarms
        if (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "Latency")
        and alarm.get("ExtendedStatistic") == "p99"
        and {"Name": "ApiId", "Value": api} in alarm["Dimensions"]
    ]
    assert len(latency) == 1
    assert latency[0]["AlarmActions"] == [stacks.ref(service, "AlarmTopic")]
