"""SnapStart on the HTTP API functions: on in `prod` (a published version, its alias, the routes and
their invoke permission on that alias), off in every other stage. Read from the packaged
CloudFormation of a `prod` packaging into a temporary directory (cfn-lint reads it too:
tests/infra/test_templates.py)."""

import pytest

from devtools.emulator.apigw import integrated_function
from devtools.template import APP_SERVICES, HTTP_SERVICES, Stacks, Template

ALIAS = "snapstart"


def _routed_functions(template: Template) -> set[str]:
    return {
        integrated_function(props["IntegrationUri"])
        for _, props in template.of_type("AWS::ApiGatewayV2::Integration")
    }


def _alias_arn(function: str) -> dict:
    return {"Fn::Join": [":", [{"Fn::GetAtt": [function, "Arn"]}, ALIAS]]}


@pytest.mark.parametrize("service", HTTP_SERVICES)  # a consumer has no route
def test_in_prod_every_route_invokes_the_snapstart_alias_of_a_published_version(prod_stacks, service):
    template = prod_stacks.templates[service]
    functions = dict(template.of_type("AWS::Lambda::Function"))
    routed = _routed_functions(template)
    assert routed
    for function in routed:
        assert functions[function]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        versions = [
            logical_id
            for logical_id, props in template.of_type("AWS::Lambda::Version")
            if props["FunctionName"] == {"Ref": function}
        ]
        assert len(versions) == 1, versions
        aliases = [props for _, props in template.of_type("AWS::Lambda::Alias")]
        assert {
            "FunctionName": {"Ref": function},
            "FunctionVersion": {"Fn::GetAtt": [versions[0], "Version"]},
            "Name": ALIAS,
        } in aliases
        permissions = [
            props
            for _, props in template.of_type("AWS::Lambda::Permission")
            if props["Principal"] == "apigateway.amazonaws.com"
        ]
        assert permissions
        assert all(p["FunctionName"] == _alias_arn(function) for p in permissions)
    for _, props in template.of_type("AWS::ApiGatewayV2::Integration"):
        assert props["IntegrationUri"] == _alias_arn(integrated_function(props["IntegrationUri"]))
    # The functions no route calls start as before: SnapStart pays only where a person waits.
    for logical_id, props in functions.items():
        if logical_id not in routed:
            assert "SnapStart" not in props, logical_id


@pytest.mark.parametrize("service", APP_SERVICES)
def test_in_dev_no_function_has_snapstart_and_routes_invoke_the_function(service):
    template = Stacks(services=(service,)).templates[service]
    assert all("SnapStart" not in props for _, props in template.of_type("AWS::Lambda::Function"))
    assert not list(template.of_type("AWS::Lambda::Alias"))
    for _, props in template.of_type("AWS::ApiGatewayV2::Integration"):
        assert "Fn::GetAtt" in props["IntegrationUri"]
