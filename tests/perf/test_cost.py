"""The cost model follows the configuration: memory, architecture, the routes and rules of the
templates, the state machine's steps, the table settings and the price table."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from devtools.ops.cost import (
    Profile,
    RouteTraffic,
    System,
    Units,
    bill,
    break_even,
    instance_setup,
    load_prices,
    render,
    usage,
)
from devtools.template import Stacks, Template

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:shop-users-dev-mail"


def _function(name: str, role: str, memory: int = 256, architecture: str = "x86_64") -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": f"shop-users-dev-{name}",
            "Handler": f"users/handlers/{name}.handler",
            "MemorySize": memory,
            "Architectures": [architecture],
            "TracingConfig": {"Mode": "Active"},
            "Role": {"Fn::GetAtt": [role, "Arn"]},
        },
    }


def _role(*statements: tuple[str, Any]) -> dict[str, Any]:
    document = {"Statement": [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in statements]}
    return {"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": document}]}}


def _route(key: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "RouteKey": key,
            "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Integration"}]]},
        },
    }


def _template() -> dict[str, Any]:
    """A users-like service: an API, an outbox publisher on the table's stream, a rule sending
    UserCreated to a mail queue (consumer allowed to send e-mail) and to a two-task state machine."""
    stream_filter = '{"eventName":["INSERT"],"dynamodb":{"Keys":{"PK":{"S":[{"prefix":"OUTBOX#"}]}}}}'
    definition = {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": "${TaskArn}", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Second"}],
            },
            "Second": {"Type": "Task", "Resource": "${TaskArn}", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    resources = {
        "ApiLambdaFunction": _function("api", "ApiRole"),
        "PublishLambdaFunction": _function("publish", "PublishRole"),
        "MailLambdaFunction": _function("mail", "MailRole"),
        "TaskLambdaFunction": _function("task", "TaskRole"),
        "ApiRole": _role(("dynamodb:GetItem", {"Fn::GetAtt": ["Table", "Arn"]})),
        "PublishRole": _role(("events:PutEvents", "*")),
        "MailRole": _role(("ses:SendEmail", "*")),
        "TaskRole": _role(),
        "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {"IntegrationUri": {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}},
        },
        "GetRoute": _route("GET /users/{id}"),
        "PostRoute": _route("POST /users"),
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "shop-users-dev",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
        "PublishMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]},
                "FunctionName": {"Fn::GetAtt": ["PublishLambdaFunction", "Arn"]},
                "FilterCriteria": {"Filters": [{"Pattern": stream_filter}]},
            },
        },
        "MailMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {"EventSourceArn": QUEUE_ARN, "FunctionName": "shop-users-dev-mail"},
        },
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "shop-users-dev-flow",
                "Definition": definition,
                "DefinitionSubstitutions": {"TaskArn": {"Fn::GetAtt": ["TaskLambdaFunction", "Arn"]}},
            },
        },
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["shop.users"], "detail-type": ["UserCreated"]},
                "Targets": [
                    {"Id": "mail", "Arn": QUEUE_ARN},
                    {"Id": "flow", "Arn": {"Ref": "Machine"}},
                ],
            },
        },
    }
    return {"Resources": resources}


def _system(template: dict[str, Any]) -> System:
    stacks = Stacks(services=())
    stacks.templates = {"users": Template("users", template)}
    return System.from_stacks(stacks)


@pytest.fixture
def template() -> dict[str, Any]:
    return _template()


@pytest.fixture
def profile() -> Profile:
    return Profile(
        requests_per_month=1_000_000,
        storage_gb=100,
        storage_share={"users": 1.0},
        peak_to_average=1.0,
        default_duration_ms=100,
        log_kb_per_invocation=1.0,
        routes={
            "GET /users/{id}": RouteTraffic(share=0.9, units=Units(read_units=1)),
            "POST /users": RouteTraffic(share=0.1, units=Units(write_units=6), events=("UserCreated",)),
        },
        functions={"default": Units(write_units=1)},
        emails={"UserCreated": 1},
        changes={},
    )


@pytest.fixture(scope="module")
def prices() -> dict[str, Any]:
    return load_prices()


def _line(template: dict, profile: Profile, prices: dict, item: str) -> float:
    lines = bill(usage(_system(template), profile), prices)
    return next(line.monthly for line in lines if line.item == item)


def test_more_memory_costs_more_compute_and_nothing_else(template, profile, prices):
    before = bill(usage(_system(template), profile), prices)
    template["Resources"]["ApiLambdaFunction"]["Properties"]["MemorySize"] = 512
    after = bill(usage(_system(template), profile), prices)
    changed = {b.item for b, a in zip(before, after, strict=True) if b.monthly != pytest.approx(a.monthly)}
    assert changed == {"Lambda compute x86_64"}


def test_the_api_function_is_billed_per_gb_second_of_its_memory(template, profile, prices):
    only_reads = replace(profile, routes={"GET /users/{id}": profile.routes["GET /users/{id}"]})
    # 1 M requests x 100 ms x 0.25 GB
    expected = 1_000_000 * 0.1 * 0.25 * prices["lambda"]["gb_second"]["x86_64"]
    assert _line(template, only_reads, prices, "Lambda compute x86_64") == pytest.approx(expected)


def test_arm64_is_billed_at_its_own_cheaper_price(template, profile, prices):
    x86 = _line(template, profile, prices, "Lambda compute x86_64")
    for logical_id in (
        "ApiLambdaFunction",
        "PublishLambdaFunction",
        "MailLambdaFunction",
        "TaskLambdaFunction",
    ):
        template["Resources"][logical_id]["Properties"]["Architectures"] = ["arm64"]
    arm = _line(template, profile, prices, "Lambda compute arm64")
    assert _line(template, profile, prices, "Lambda compute x86_64") == 0
    ratio = prices["lambda"]["gb_second"]["arm64"] / prices["lambda"]["gb_second"]["x86_64"]
    assert arm == pytest.approx(x86 * ratio)


def test_an_event_reaches_the_publisher_the_rule_targets_and_the_state_machine_tasks(template, profile):
    found = usage(_system(template), replace(profile, routes={"POST /users": profile.routes["POST /users"]}))
    assert dict(found.invocations) == {
        "users.api": 1_000_000,
        "users.publish": 1_000_000,
        "users.mail": 1_000_000,
        "users.task": 2_000_000,
    }
    assert found.counts["events"] == 1_000_000
    assert found.counts["sqs_requests"] == 3_000_000  # send, receive, delete
    assert found.counts["emails"] == 1_000_000  # only the consumer whose role may send e-mail
    assert found.counts["transitions"] == 4_000_000  # First, Check, Second, Done


def test_state_transitions_follow_the_definition(template, profile):
    states = template["Resources"]["Machine"]["Properties"]["Definition"]["States"]
    states["Second"]["Next"] = "Wait"
    states["Wait"] = {"Type": "Wait", "Seconds": 1, "Next": "Done"}
    found = usage(_system(template), replace(profile, routes={"POST /users": profile.routes["POST /users"]}))
    assert found.counts["transitions"] == 5_000_000


def test_the_stream_filter_decides_whether_the_publisher_runs(template, profile):
    mapping = template["Resources"]["PublishMapping"]["Properties"]
    mapping["FilterCriteria"]["Filters"][0]["Pattern"] = '{"eventName":["REMOVE"]}'
    found = usage(_system(template), profile)
    assert "users.publish" not in found.invocations


def test_request_units_come_from_the_profile_per_route_and_per_consumer(template, profile):
    found = usage(_system(template), profile)
    assert found.counts["read_units"] == pytest.approx(900_000)
    # POST: 6 units itself; mail consumer, publisher and two tasks: 1 unit each (the default)
    assert found.counts["write_units"] == pytest.approx(100_000 * (6 + 4))


def test_requests_scale_the_request_priced_lines_not_storage(template, profile, prices):
    double = replace(profile, requests_per_month=2 * profile.requests_per_month)
    assert _line(template, double, prices, "HTTP API") == pytest.approx(
        2 * _line(template, profile, prices, "HTTP API")
    )
    assert _line(template, double, prices, "DynamoDB storage") == _line(
        template, profile, prices, "DynamoDB storage"
    )


def test_point_in_time_recovery_is_billed_only_when_the_table_enables_it(template, profile, prices):
    assert _line(template, profile, prices, "DynamoDB backups (PITR)") == pytest.approx(
        100 * prices["dynamodb"]["point_in_time_recovery_gb_month"]
    )
    del template["Resources"]["Table"]["Properties"]["PointInTimeRecoverySpecification"]
    assert _line(template, profile, prices, "DynamoDB backups (PITR)") == 0


def test_every_alarm_of_the_templates_is_billed_whatever_the_traffic(template, profile, prices):
    assert _line(template, profile, prices, "CloudWatch alarms") == 0
    template["Resources"]["DlqAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    template["Resources"]["ApiAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}
    quiet = replace(profile, requests_per_month=1)
    assert _line(template, profile, prices, "CloudWatch alarms") == pytest.approx(
        2 * prices["cloudwatch"]["alarm_month"]
    )
    assert _line(template, quiet, prices, "CloudWatch alarms") == _line(
        template, profile, prices, "CloudWatch alarms"
    )


def test_dashboards_beyond_the_accounts_free_ones_are_billed_whatever_the_traffic(template, profile, prices):
    free = prices["cloudwatch"]["free_dashboards"]
    for n in range(free):
        template["Resources"][f"Dashboard{n}"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}
    assert _line(template, profile, prices, "CloudWatch dashboards") == 0
    template["Resources"]["OneMore"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}
    quiet = replace(profile, requests_per_month=1)
    assert _line(template, quiet, prices, "CloudWatch dashboards") == pytest.approx(
        prices["cloudwatch"]["dashboard_month"]
    )


def test_a_route_the_templates_lack_is_skipped_and_the_others_keep_the_volume(template, profile):
    routes = dict(profile.routes) | {"GET /nowhere": RouteTraffic(share=0.5)}
    found = usage(_system(template), replace(profile, routes=routes))
    assert found.skipped == ["GET /nowhere: not in the packaged templates"]
    assert found.counts["http_requests"] == pytest.approx(profile.requests_per_month)


def test_x_ray_bills_the_sampled_traces_only(template, profile, prices):
    found = usage(_system(template), profile)
    traced = found.counts["traced_invocations"]
    line = next(line for line in bill(found, prices) if line.item.startswith("X-Ray"))
    assert 0 < line.quantity <= traced
    untraced = copy.deepcopy(template)
    for resource in untraced["Resources"].values():
        resource["Properties"].pop("TracingConfig", None)
    assert (
        next(x for x in bill(usage(_system(untraced), profile), prices) if x.item.startswith("X-Ray")).monthly
        == 0
    )


def test_break_even_is_where_both_setups_cost_the_same(template, profile, prices):
    system = _system(template)
    point = break_even(system, profile, prices, "reserved")
    assert point
    below = bill(usage(system, replace(profile, requests_per_month=point * 0.9)), prices)
    above = bill(usage(system, replace(profile, requests_per_month=point * 1.1)), prices)
    servers = sum(instance_setup(replace(profile, requests_per_month=point), prices, "reserved").values())
    serverless = [sum(line.monthly for line in lines if line.item != "SES") for lines in (below, above)]
    assert serverless[0] < servers < serverless[1]


def test_a_costlier_request_lowers_the_break_even(template, profile, prices):
    cheap = break_even(_system(template), profile, prices, "reserved")
    template["Resources"]["ApiLambdaFunction"]["Properties"]["MemorySize"] = 2048
    assert break_even(_system(template), profile, prices, "reserved") < cheap


def test_the_report_of_the_default_profile_names_every_route_and_the_reference(template, prices):
    report = render(_system(template), Profile.load(), prices)
    assert "$174" in report
    assert "GET /users/{id}" in report
    assert "skipped: POST /orders: not in the packaged templates" in report


def _snap_start(template: dict[str, Any]) -> None:
    """The API function as `prod` packages it: SnapStart on, the integration on its alias."""
    template["Resources"]["ApiLambdaFunction"]["Properties"]["SnapStart"] = {"ApplyOn": "PublishedVersions"}
    template["Resources"]["Integration"]["Properties"]["IntegrationUri"] = {
        "Fn::Join": [":", [{"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}, "snapstart"]]
    }


def test_snapstart_bills_a_cached_snapshot_all_month_and_a_restore_per_new_environment(
    template, profile, prices
):
    profile = replace(profile, new_environment_share=0.02, snapstart_versions=1)
    assert _line(template, profile, prices, "Lambda SnapStart cache") == 0
    assert _line(template, profile, prices, "Lambda SnapStart restores") == 0
    _snap_start(template)
    lam = prices["lambda"]
    # one version of a 256 MB function, cached for the month
    cache = 0.25 * 730 * 3600 * lam["snapstart_cache_gb_second"]
    assert _line(template, profile, prices, "Lambda SnapStart cache") == pytest.approx(cache)
    # 1 M API requests, 2 % of them in a new environment: 20,000 restores of 0.25 GB
    restores = 1_000_000 * 0.02 * 0.25 * lam["snapstart_restore_gb"]
    assert _line(template, profile, prices, "Lambda SnapStart restores") == pytest.approx(restores)
    two_versions = replace(profile, snapstart_versions=2)
    assert _line(template, two_versions, prices, "Lambda SnapStart cache") == pytest.approx(2 * cache)
