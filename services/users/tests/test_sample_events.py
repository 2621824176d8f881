"""The sample events in events/ (for `serverless invoke local`): one per function at least, each
accepted by its handler on moto, in the order the flow produces them."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.apigw import routes

EVENTS = Path(__file__).resolve().parent.parent / "events"
API_EVENTS = ("create_user", "get_user", "update_user", "delete_user")


def sample(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_every_function_has_a_sample_and_the_http_ones_name_every_route(stacks):
    functions = {
        stacks.resolve("users", props["FunctionName"]).removeprefix("shop-users-dev-")
        for _, props in stacks.templates["users"].of_type("AWS::Lambda::Function")
    }
    files = {path.stem for path in EVENTS.glob("*.json")}
    assert {name.replace("_", "-") for name in files - set(API_EVENTS)} | {"api"} == functions
    route_keys = {route.route_key for route in routes(stacks) if route.service == "users"}
    assert {sample(name)["routeKey"] for name in API_EVENTS} == route_keys


def test_the_samples_run_through_their_handlers(aws, lambda_function):
    def run(function: str, event: str):
        return lambda_function("users", function)(sample(event))

    assert run("api", "create_user")["statusCode"] == 201
    assert json.loads(run("api", "get_user")["body"])["email"] == "ann@example.com"
    assert json.loads(run("api", "update_user")["body"])["name"] == "Ann Smith"
    assert run("publish-events", "publish_events") == {"batchItemFailures": []}
    assert run("api", "delete_user")["statusCode"] == 204
    assert run("api", "get_user")["statusCode"] == 404
