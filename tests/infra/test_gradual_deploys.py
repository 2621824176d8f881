"""Gradual deploys in `prod`, all at once elsewhere (services/*/resources/gradual-deploys.yml,
tools/osls-alias-versions; docs/deploying.md). Read from the packaged CloudFormation of a `prod`
packaging into a temporary directory, and of `make package`'s `dev`.

In prod every function that a route, a queue or a stream invokes is invoked through an alias that
CodeDeploy moves to each new version by steps, and rolls back when one of its group's alarms
fires: the API's 5xx and p99 latency alarms, a consumer's errors through its alias and its
dead-letter (or stream-failures) queue.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.emulator.apigw import integrated_function
from devtools.template import APP_SERVICES, Stacks, Template, package_stage
from devtools.testkit.packaging import copy_services, osls

UPDATE_POLICY = "CodeDeployLambdaAliasUpdate"


def _invoked_functions(template: Template) -> set[str]:
    """Logical ids of the functions a route, a queue or a stream invokes."""
    routed = {
        integrated_function(p["IntegrationUri"])
        for _, p in template.of_type("AWS::ApiGatewayV2::Integration")
    }
    mapped = {
        integrated_function(p["FunctionName"]) for _, p in template.of_type("AWS::Lambda::EventSourceMapping")
    }
    return routed | mapped


def _shifted_aliases(template: Template) -> dict[str, tuple[str, dict]]:
    """Function logical id -> (alias logical id, alias resource) for the aliases CodeDeploy moves."""
    return {
        resource["Properties"]["FunctionName"]["Ref"]: (logical_id, resource)
        for logical_id, resource in template.resources.items()
        if resource["Type"] == "AWS::Lambda::Alias" and UPDATE_POLICY in resource.get("UpdatePolicy", {})
    }


def _alarm(template: Template, reference: dict) -> dict:
    resource = template.resources[reference["Ref"]]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    return resource["Properties"]


def _qualified(function: str, alias: str) -> dict:
    return {"Fn::Join": [":", [{"Fn::GetAtt": [function, "Arn"]}, alias]]}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_in_prod_every_invoked_function_shifts_through_codedeploy(prod_stacks, service):
    template = prod_stacks.templates[service]
    (application,) = [logical_id for logical_id, _ in template.of_type("AWS::CodeDeploy::Application")]
    aliases = _shifted_aliases(template)
    assert set(aliases) == _invoked_functions(template)
    for function, (alias_id, alias) in aliases.items():
        # The alias follows the one version this deploy publishes...
        (version,) = [
            logical_id
            for logical_id, props in template.of_type("AWS::Lambda::Version")
            if props["FunctionName"] == {"Ref": function}
        ]
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}
        # ... through a deployment group of this stack's application, by steps, rolled back on alarm.
        update = alias["UpdatePolicy"][UPDATE_POLICY]
        assert update["ApplicationName"] == {"Ref": application}
        group = template.resources[update["DeploymentGroupName"]["Ref"]]["Properties"]
        assert group["ApplicationName"] == {"Ref": application}
        assert group["DeploymentConfigName"] in (
            "CodeDeployDefault.LambdaCanary10Percent10Minutes",
            "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        )
        assert group["DeploymentStyle"] == {
            "DeploymentType": "BLUE_GREEN",
            "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        }
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert set(group["AutoRollbackConfiguration"]["Events"]) == {
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_ALARM",
            "DEPLOYMENT_STOP_ON_REQUEST",  # a stopped deployment goes back too (docs/deploying.md)
        }
        assert group["AlarmConfiguration"]["Enabled"] is True
        alarms = [_alarm(template, entry["Name"]) for entry in group["AlarmConfiguration"]["Alarms"]]
        assert all(alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms)
        # Everything that invokes the function invokes the alias.
        name = alias["Properties"]["Name"]
        for _, props in template.of_type("AWS::ApiGatewayV2::Integration"):
            if integrated_function(props["IntegrationUri"]) == function:
                assert props["IntegrationUri"] == _qualified(function, name)
        for logical_id, resource in template.resources.items():
            if (
                resource["Type"] == "AWS::Lambda::EventSourceMapping"
                and integrated_function(resource["Properties"]["FunctionName"]) == function
            ):
                assert resource["Properties"]["FunctionName"] == _qualified(function, name)
                assert alias_id in resource["DependsOn"], logical_id


@pytest.mark.parametrize("service", APP_SERVICES)
def test_in_prod_the_api_rolls_back_on_5xx_or_a_slow_p99_through_the_snapstart_alias(prod_stacks, service):
    template = prod_stacks.templates[service]
    alias_id, alias = _shifted_aliases(template)["ApiLambdaFunction"]
    assert (alias_id, alias["Properties"]["Name"]) == ("ApiSnapStartLambdaAlias", "snapstart")
    group = template.resources[alias["UpdatePolicy"][UPDATE_POLICY]["DeploymentGroupName"]["Ref"]][
        "Properties"
    ]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent10Minutes"
    alarms = [_alarm(template, entry["Name"]) for entry in group["AlarmConfiguration"]["Alarms"]]
    assert sorted((a["Namespace"], a["MetricName"], a.get("ExtendedStatistic")) for a in alarms) == [
        ("AWS/ApiGateway", "5xx", None),
        ("AWS/ApiGateway", "Latency", "p99"),
    ]
    assert all(a["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}] for a in alarms)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_in_prod_a_consumer_rolls_back_on_its_errors_through_the_alias_or_its_dead_letters(
    prod_stacks, service
):
    template = prod_stacks.templates[service]
    consumers = {f: a for f, a in _shifted_aliases(template).items() if f != "ApiLambdaFunction"}
    assert consumers
    for function, (_, alias) in consumers.items():
        assert alias["Properties"]["Name"] == "live"
        group = template.resources[alias["UpdatePolicy"][UPDATE_POLICY]["DeploymentGroupName"]["Ref"]]
        properties = group["Properties"]
        assert properties["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes"
        alarms = [_alarm(template, entry["Name"]) for entry in properties["AlarmConfiguration"]["Alarms"]]
        errors = [a for a in alarms if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Errors")]
        assert [a["Dimensions"] for a in errors] == [
            [
                {"Name": "FunctionName", "Value": {"Ref": function}},
                {"Name": "Resource", "Value": {"Fn::Sub": f"${{{function}}}:live"}},
            ]
        ]
        # The queue the function's failures end in: its dead-letter queue or stream-failures queue.
        queues = [
            a
            for a in alarms
            if (a["Namespace"], a["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        ]
        assert len(queues) == 1, function
        (dimension,) = queues[0]["Dimensions"]
        queue = dimension["Value"]["Fn::GetAtt"][0]
        assert queue.endswith(("DLQ", "StreamFailuresQueue")), queue


@pytest.mark.parametrize("service", APP_SERVICES)
def test_in_dev_every_function_deploys_at_once(stacks, service):
    template = stacks.templates[service]
    types = {resource["Type"] for resource in template.resources.values()}
    assert not {t for t in types if t.startswith("AWS::CodeDeploy::")}
    assert not list(template.of_type("AWS::Lambda::Alias"))
    assert not [logical_id for logical_id, r in template.resources.items() if "UpdatePolicy" in r]
    for _, props in template.of_type("AWS::Lambda::EventSourceMapping"):
        assert "Fn::GetAtt" in props["FunctionName"]  # $LATEST, not an alias


def test_the_emergency_override_shifts_everything_at_once_in_prod(tmp_path):
    """docs/deploying.md: `--param trafficShifting=CodeDeployDefault.LambdaAllAtOnce`."""
    packaged = package_stage(
        "prod", tmp_path, ("users",), {"trafficShifting": "CodeDeployDefault.LambdaAllAtOnce"}
    )
    template = Stacks(stage="prod", services=("users",), packaged=packaged).templates["users"]
    groups = [props for _, props in template.of_type("AWS::CodeDeploy::DeploymentGroup")]
    assert len(groups) == 2
    assert {group["DeploymentConfigName"] for group in groups} == {"CodeDeployDefault.LambdaAllAtOnce"}
    assert all(group["AlarmConfiguration"]["Enabled"] for group in groups)


def test_an_alias_without_a_function_of_the_service_is_refused(tmp_path):
    """tools/osls-alias-versions fills in only an alias of a function this package versions."""
    service = copy_services(tmp_path, "users") / "services" / "users"
    resources = service / "resources" / "gradual-deploys.yml"
    text = resources.read_text()
    assert "FunctionName: !Ref PublishDasheventsLambdaFunction\n" in text
    resources.write_text(
        text.replace(
            "FunctionName: !Ref PublishDasheventsLambdaFunction\n", "FunctionName: !Ref UsersTable\n"
        )
    )
    run = osls(tmp_path, "users", "package", "--stage", "prod")
    assert run.returncode != 0
    assert (
        "PublishDasheventsLiveAlias: an alias without FunctionVersion needs FunctionName"
        in run.stdout + run.stderr
    )
    assert not Path(service / ".serverless" / "cloudformation-template-update-stack.json").exists()
