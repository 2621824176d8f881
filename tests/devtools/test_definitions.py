"""What a service's new template changes in what the local stack serves, in the words of the
reload's log line (``devtools.local.definitions.changes``), on edits of the packaged templates."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from devtools.local.definitions import changes, framework_error
from devtools.template import Stacks, Template, TemplateError


@pytest.fixture(scope="module")
def stacks() -> Stacks:
    return Stacks()


def _edited(stacks: Stacks, service: str, edit: Callable[[dict[str, Any]], None]) -> Stacks:
    body = copy.deepcopy(stacks.templates[service].body)
    edit(body)
    return stacks.with_templates({service: Template(service, body)})


def _function(body: dict[str, Any], name: str) -> dict[str, Any]:
    [props] = [
        resource["Properties"]
        for resource in body["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"]["FunctionName"] == name
    ]
    return props


def test_the_same_templates_change_nothing(stacks: Stacks) -> None:
    assert changes(stacks, _edited(stacks, "users", lambda body: None)) == {}


def test_a_function_s_changed_variables_and_timeout_are_named(stacks: Stacks) -> None:
    def edit(body: dict[str, Any]) -> None:
        api = _function(body, "shop-users-dev-api")
        api["Environment"]["Variables"]["GREETING"] = "hello"
        api["Timeout"] = api["Timeout"] + 1

    assert changes(stacks, _edited(stacks, "users", edit)) == {
        "users": ["function api environment (GREETING), timeout changed"]
    }


def test_a_removed_route_and_a_new_index_are_named(stacks: Stacks) -> None:
    def edit(body: dict[str, Any]) -> None:
        del body["Resources"]["HttpApiRouteDeleteUsersIdVar"]
        table = body["Resources"]["UsersTable"]["Properties"]
        table["AttributeDefinitions"].append({"AttributeName": "GSI2PK", "AttributeType": "S"})
        table["GlobalSecondaryIndexes"].append(
            {
                "IndexName": "GSI2",
                "KeySchema": [{"AttributeName": "GSI2PK", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        )

    assert changes(stacks, _edited(stacks, "users", edit)) == {
        "users": [
            "route DELETE /users/{id} removed",
            "table shop-users-dev changed (AttributeDefinitions, GlobalSecondaryIndexes)",
        ]
    }


def test_a_mapping_s_new_batch_size_and_a_removed_queue_are_named_and_the_queue_kept(stacks: Stacks) -> None:
    def edit(body: dict[str, Any]) -> None:
        body["Resources"]["DeliverEventSourceMappingSQSEventsQueue"]["Properties"]["BatchSize"] = 1
        body["Resources"]["SpareQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "spare"}}

    with_spare = _edited(stacks, "notifications", edit)
    without_spare = _edited(with_spare, "notifications", lambda body: body["Resources"].pop("SpareQueue"))

    assert changes(stacks, with_spare) == {
        "notifications": [
            "queue spare added",
            "sqs mapping shop-notifications-dev-events → deliver changed (batch_size)",
        ]
    }
    assert changes(with_spare, without_spare) == {
        "notifications": [
            "queue spare removed from the template: kept in the AWS endpoint with its data "
            "(make dev FRESH=1 drops it)"
        ]
    }


def test_an_export_that_changes_changes_the_services_that_import_it(stacks: Stacks) -> None:
    def edit(body: dict[str, Any]) -> None:
        body["Outputs"]["JwtAudience"]["Value"] = "another-client"

    found = changes(stacks, _edited(stacks, "users", edit))

    assert found == {
        "orders": ["authorizer HttpApiAuthorizerJwt changed"],
        "notifications": ["authorizer HttpApiAuthorizerJwt changed"],
    }


def test_a_template_the_stack_cannot_read_raises(stacks: Stacks) -> None:
    def edit(body: dict[str, Any]) -> None:
        _function(body, "shop-users-dev-api")["Environment"]["Variables"]["TABLE"] = {"Ref": "NoSuchThing"}

    with pytest.raises(TemplateError, match="no resource NoSuchThing"):
        changes(stacks, _edited(stacks, "users", edit))


def test_the_framework_s_error_is_taken_from_its_error_line_on() -> None:
    stdout = 'Packaging shop-users for stage dev\nError:\nCannot parse "serverless.yml": bad\n'
    stderr = "Environment: linux, node 20\n"

    assert framework_error(stdout, stderr) == 'Error:\nCannot parse "serverless.yml": bad'
    assert framework_error("", "Traceback: bundle.py failed\n") == "Traceback: bundle.py failed"
