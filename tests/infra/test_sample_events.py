"""Every function of every service has a sample event in ``services/<x>/events/``, what
``serverless invoke local --path`` is given: an HTTP sample names its route (every route has one),
another starts with its function's name (``deliver_user_created.json`` for ``deliver``). Each
service's own tests run its samples through the handlers."""

from __future__ import annotations

import json

import pytest

from devtools.emulator.apigw import routes
from devtools.template import APP_SERVICES, ROOT, Stacks


def sample_coverage_problems(stacks: Stacks, service: str) -> list[str]:
    samples = {
        path.stem: json.loads(path.read_text())
        for path in (ROOT / "services" / service / "events").glob("*.json")
    }
    function_names = {
        logical_id: stacks.resolve(service, props["FunctionName"]).removeprefix(
            f"shop-{service}-{stacks.stage}-"
        )
        for logical_id, props in stacks.templates[service].of_type("AWS::Lambda::Function")
    }
    service_routes = [route for route in routes(stacks) if route.service == service]
    named = {event["routeKey"] for event in samples.values() if "routeKey" in event}
    others = [name.replace("_", "-") for name, event in samples.items() if "routeKey" not in event]
    covered = {function_names[route.function] for route in service_routes if route.route_key in named}
    covered |= {f for f in function_names.values() if any(name.startswith(f) for name in others)}
    problems = [
        f"{service}: no sample names {r.route_key}" for r in service_routes if r.route_key not in named
    ]
    problems += [f"{service}: no sample for {f}" for f in sorted(set(function_names.values()) - covered)]
    return problems


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_function_and_route_has_a_sample_event(stacks, service):
    assert sample_coverage_problems(stacks, service) == []


def test_a_function_without_a_sample_fails_the_check():
    users = Stacks(services=("users",))  # a fresh copy of the template, ours to change
    resources = users.templates["users"].resources
    resources["ExtraLambdaFunction"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"FunctionName": "shop-users-dev-extra"},
    }

    assert sample_coverage_problems(users, "users") == ["users: no sample for extra"]
