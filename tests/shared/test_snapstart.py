"""SnapStart priming and re-seeding (shared/snapstart.py): the hooks registered only in Lambda's
runtime, priming that resolves every route without network or writes, re-seeding that makes two
restores of one snapshot differ."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import boto3
import pytest
import ulid

from devtools.emulator.lambda_runtime import functions
from devtools.template import HTTP_SERVICES, ROOT
from shared import snapstart
from shared.http import NotFoundError, RequestBody, create_resolver

# A port nothing listens on: a call that escaped the priming stub fails (500), it cannot pass.
UNREACHABLE = "http://127.0.0.1:9"


class Greeting(RequestBody):
    text: str


def _resolver():
    table = boto3.client("dynamodb", endpoint_url=UNREACHABLE)
    app = create_resolver()

    @app.get("/items/<item_id>")
    def get_item(item_id: str) -> dict:
        found = table.get_item(TableName="items", Key={"PK": {"S": item_id}})
        if "Item" not in found:
            raise NotFoundError("no such item")
        return found["Item"]

    @app.post("/items")
    def put_item(greeting: Greeting) -> dict:
        table.put_item(TableName="items", Item={"PK": {"S": greeting.text}})
        return {}

    return app


def test_priming_resolves_every_route_with_aws_answered_in_process():
    after = []
    app = _resolver()
    statuses = snapstart.prime(app, app.resolve, after=lambda: after.append(True))
    # GET reached DynamoDB (stubbed: no item, so 404); POST stopped at its body model (422).
    assert sorted(statuses) == [404, 422]
    assert after == [True]


def test_outside_the_priming_block_the_client_really_calls_out():
    app = _resolver()
    response = app.resolve(snapstart.priming_event("GET", "/items/{item_id}"), {})
    assert response["statusCode"] == 500  # the unreachable endpoint: the stub is gone


def test_outside_lambda_no_hook_is_registered():
    assert snapstart.register_before_snapshot is None  # not installed here, as on a laptop
    app = _resolver()
    assert snapstart.register_hooks(app, app.resolve, after_priming=lambda: None) is False


def test_in_lambda_priming_and_reseeding_are_registered(monkeypatch):
    registered = []
    monkeypatch.setattr(snapstart, "register_before_snapshot", lambda *a: registered.append(("before", *a)))
    monkeypatch.setattr(snapstart, "register_after_restore", lambda *a: registered.append(("after", *a)))
    app, after = _resolver(), (lambda: None)
    assert snapstart.register_hooks(app, app.resolve, after_priming=after) is True
    assert registered == [("before", snapstart.prime, app, app.resolve, after), ("after", snapstart.reseed)]


def test_reseeding_makes_two_restores_of_one_snapshot_draw_different_numbers():
    random.seed(42)
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)  # each restore starts from the snapshot's memory
        snapstart.reseed()
        draws.append(random.random())
    assert draws[0] != draws[1]


def test_reseeding_forgets_the_ulid_generators_last_id():
    ulid.ULID()
    assert ulid.default_generator.policy.prev_timestamp
    snapstart.reseed()
    assert ulid.default_generator.policy.prev_timestamp == 0


# Lambda's runtime library, standing in: it records the hooks; the script then runs them as
# Lambda would (priming before the snapshot, re-seeding after restore).
PRIME_SERVICE_API = """
import importlib, json, sys, types
hooks = {{"before": [], "after": []}}
runtime = types.ModuleType("snapshot_restore_py")
runtime.register_before_snapshot = lambda f, *a: hooks["before"].append((f, a))
runtime.register_after_restore = lambda f, *a: hooks["after"].append((f, a))
sys.modules["snapshot_restore_py"] = runtime
importlib.import_module({module!r})
[(prime, arguments)] = hooks["before"]
statuses = prime(*arguments)
[(reseed, arguments)] = hooks["after"]
reseed(*arguments)
print(json.dumps(statuses))
"""


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_the_entry_point_primes_every_route_of_each_api_without_reaching_aws(stacks, service):
    spec = functions(stacks)[f"shop-{service}-dev-api"]
    module = spec.handler.rsplit(".", 1)[0].replace("/", ".")
    env = (
        os.environ
        | spec.environment
        | {
            "AWS_ENDPOINT_URL": UNREACHABLE,
            "PYTHONPATH": f"{ROOT / 'services' / service / 'src'}:{ROOT}",
        }
    )
    run = subprocess.run(  # noqa: S603 - our interpreter and script
        [sys.executable, "-c", PRIME_SERVICE_API.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    statuses = json.loads(run.stdout.strip().splitlines()[-1])
    routes = list(stacks.templates[service].of_type("AWS::ApiGatewayV2::Route"))
    assert len(statuses) == len(routes)
    assert all(status < 500 for status in statuses), statuses
