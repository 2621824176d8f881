"""The local stack end to end, driven only over HTTP and its AWS endpoint (``tests.e2e.local_stack``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from devtools.emulator.jwt_local import SigningKey, mint
from devtools.emulator.lambda_runtime import functions
from devtools.template import ROOT, Stacks
from shared.dead_letters import REASON_ATTRIBUTE
from tests.e2e.local_stack import LocalStack, Reply, running, wait_until

pytestmark = pytest.mark.e2e

FINAL_STATUSES = {"CONFIRMED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running(tmp_path_factory.mktemp("local-stack")) as local:
        yield local


def test_the_stack_answers_as_api_gateway_does_for_unknown_routes(stack: LocalStack) -> None:
    reply = stack.request("GET", "/no/such/route")

    assert (reply.status, reply.body) == (404, {"message": "Not Found"})


def test_requests_without_a_valid_token_get_401(stack: LocalStack) -> None:
    key = SigningKey.load_or_create(stack.state_dir)
    valid = jwt.decode(stack.token("ann"), options={"verify_signature": False})
    issuer, audience = valid["iss"], valid["aud"]
    expired = mint(key, "ann", issuer=issuer, audience=audience, now=time.time() - 7200)
    foreign = mint(
        SigningKey.load_or_create(stack.state_dir / "elsewhere"), "ann", issuer=issuer, audience=audience
    )
    wrong_audience = mint(key, "ann", issuer=issuer, audience="someone-else")
    unsigned = jwt.encode(
        {"sub": "ann", "iss": issuer, "aud": audience, "exp": time.time() + 60}, None, "none"
    )

    for token in (None, "not-a-jwt", expired, foreign, wrong_audience, unsigned):
        reply = stack.request("GET", "/users/ann", token=token)
        assert (reply.status, reply.body) == (401, {"message": "Unauthorized"}), token


def test_a_user_creates_a_profile_that_other_users_cannot_read(stack: LocalStack) -> None:
    alice, bob, admin = stack.token("alice"), stack.token("bob"), stack.token("root", "admin")

    created = stack.request(
        "POST", "/users", token=alice, body={"email": "alice@example.com", "name": "Alice"}
    )

    assert created.status == 201, created.body
    assert created.body["id"] == "alice"
    assert stack.request("GET", "/users/alice", token=alice).body["email"] == "alice@example.com"
    assert stack.request("GET", "/users/alice", token=bob).status == 403
    assert stack.request("GET", "/users/alice", token=admin).status == 200


def test_every_event_crossing_the_bus_is_logged_with_its_correlation_id(stack: LocalStack) -> None:
    dora = stack.token("dora")

    created = stack.request(
        "POST",
        "/users",
        token=dora,
        body={"email": "dora@example.com", "name": "Dora"},
        headers={"x-correlation-id": "e2e-dora-1"},
    )

    assert created.status == 201, created.body
    assert created.headers["x-correlation-id"] == "e2e-dora-1"
    line = wait_until(
        lambda: next(
            (ln for ln in stack.log_text().splitlines() if "UserCreated correlation_id=e2e-dora-1" in ln),
            None,
        ),
        10,
        "the UserCreated event in the stack's log",
    )
    assert "shop.users" in line
    assert "→ queue" in line  # the consumers it reached
    assert "POST /users 201" in stack.log_text()


def _place_order(stack: LocalStack, token: str, payment_token: str) -> str:
    order = {
        "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
        "currency": "EUR",
        "payment_token": payment_token,
    }

    def placed() -> Reply | None:
        reply = stack.request("POST", "/orders", token=token, body=order)
        # 409 until the orders service's copy of the new profile arrived over the bus.
        return None if reply.status == 409 else reply

    reply = wait_until(placed, 15, "the profile to reach the orders service")
    assert reply.status == 202, reply.body
    assert reply.body["status"] == "PENDING"
    return reply.body["order_id"]


def test_orders_reach_their_final_status_and_their_notifications(stack: LocalStack) -> None:
    erin = stack.token("erin")
    created = stack.request("POST", "/users", token=erin, body={"email": "erin@example.com", "name": "Erin"})
    assert created.status == 201, created.body

    orders = {token: _place_order(stack, erin, token) for token in ("tok_ok", "tok_decline", "tok_flaky")}

    def final_statuses() -> dict[str, str] | None:
        # An accepted order may not be readable yet: intake buffers it in a queue first.
        replies = {
            token: stack.request("GET", f"/orders/{order_id}", token=erin)
            for token, order_id in orders.items()
        }
        statuses = {token: reply.body["status"] for token, reply in replies.items() if reply.status == 200}
        return statuses if len(statuses) == len(orders) and set(statuses.values()) <= FINAL_STATUSES else None

    statuses = wait_until(final_statuses, 30, "every order to reach a final status", interval=0.5)
    assert statuses == {"tok_ok": "CONFIRMED", "tok_decline": "FAILED", "tok_flaky": "CONFIRMED"}
    listed = stack.request("GET", "/users/erin/orders", token=erin).body
    assert {order["order_id"] for order in listed["orders"]} == set(orders.values())
    assert stack.request("GET", f"/orders/{orders['tok_ok']}", token=stack.token("frank")).status == 403

    def notifications() -> dict[str, str] | None:
        page = stack.request("GET", "/users/erin/notifications", token=erin).body
        sent = {n["values"].get("order_id", "-"): n["template"] for n in page["notifications"]}
        return sent if len(sent) == 4 else None

    sent = wait_until(notifications, 15, "the welcome and the three order e-mails", interval=0.5)
    assert sent == {
        "-": "welcome",
        orders["tok_ok"]: "order_confirmed",
        orders["tok_decline"]: "order_failed",
        orders["tok_flaky"]: "order_confirmed",
    }
    emails = stack.client("ses").get_send_statistics()["SendDataPoints"]
    assert sum(point["DeliveryAttempts"] for point in emails) >= 4


def test_lambda_invoke_on_the_aws_endpoint_runs_the_function_in_its_worker(stack: LocalStack) -> None:
    """What moto's Step Functions tasks send: Lambda's Invoke on the AWS endpoint reaches the real
    handler, and a function error comes back as Lambda answers it, with ``errorType``."""
    awslambda = stack.client("lambda")
    event = (ROOT / "services/users/events/get_user.json").read_bytes()

    answered = awslambda.invoke(FunctionName="shop-users-dev-api", Payload=event)
    failed = awslambda.invoke(FunctionName="shop-orders-dev-charge-payment", Payload=b"{}")

    assert "FunctionError" not in answered
    assert json.loads(answered["Payload"].read())["statusCode"] in (200, 404)  # u1's profile, or none
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ValidationError", error  # the execution state it expects is missing
    assert error["stackTrace"]
    assert "states → shop-orders-dev-charge-payment: 1 record(s), raised ValidationError" in stack.log_text()
    with pytest.raises(awslambda.exceptions.InvalidRequestContentException):
        awslambda.invoke(FunctionName="shop-users-dev-api", Payload=b"{not json")


def test_a_user_who_deleted_the_profile_signs_up_again_and_orders(stack: LocalStack) -> None:
    gina = stack.token("gina")
    assert (
        stack.request("POST", "/users", token=gina, body={"email": "gina@example.com", "name": "G"}).status
        == 201
    )
    _place_order(stack, gina, "tok_ok")
    assert stack.request("DELETE", "/users/gina", token=gina).status == 204

    def profile_copy() -> Any:
        return stack.request("GET", "/users/gina/orders", token=gina).body["profile"]

    wait_until(lambda: profile_copy() is None or None, 15, "the deletion to reach the orders service")
    again = {"email": "gina@new.example", "name": "G"}
    assert stack.request("POST", "/users", token=gina, body=again).status == 201
    wait_until(
        lambda: (profile_copy() or {}).get("email") == "gina@new.example" or None, 15, "the new profile"
    )

    order_id = _place_order(stack, gina, "tok_ok")

    def status() -> str | None:
        reply = stack.request("GET", f"/orders/{order_id}", token=gina)
        return (
            reply.body["status"] if reply.status == 200 and reply.body["status"] in FINAL_STATUSES else None
        )

    assert wait_until(status, 30, "the order of the new profile to end", interval=0.5) == "CONFIRMED"


def test_invoke_local_resolves_the_environment_the_stack_gives_each_function(stack: LocalStack) -> None:
    """``serverless invoke local`` resolves ``Ref`` and ``Fn::ImportValue`` variables by asking
    CloudFormation; the stack's AWS endpoint must give the values its own handlers run with."""
    cloudformation = stack.client("cloudformation")
    stacks = Stacks(sqs_endpoint=stack.aws)
    exports = {e["Name"]: e["Value"] for e in cloudformation.list_exports()["Exports"]}
    checked = 0
    for spec in functions(stacks).values():
        properties = stacks.templates[spec.service].resources[spec.logical_id]["Properties"]
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cloudformation.list_stack_resources(StackName=stacks.stack_name(spec.service))[
                "StackResourceSummaries"
            ]
        }
        for name, value in properties.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and "Ref" in value:
                assert resources[value["Ref"]] == spec.environment[name], (spec.name, name)
                checked += 1
            elif isinstance(value, dict) and "Fn::ImportValue" in value:
                assert (
                    exports[stacks.resolve(spec.service, value["Fn::ImportValue"])] == spec.environment[name]
                )
                checked += 1
    assert checked, "no function reads a Ref or an import: this test checks nothing"


def _invoke_local(function: str, sample: str, state_dir: Path) -> subprocess.CompletedProcess:
    """``npx osls invoke local`` in services/users as a newcomer runs it: no AWS variable, no
    virtualenv (neither activated nor on PATH)."""
    venv = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv)
    environment = {"PATH": path, "HOME": os.environ["HOME"], "LOCAL_STACK_DIR": str(state_dir)}
    return subprocess.run(  # noqa: S603 - the project's own CLI
        [str(ROOT / "node_modules/.bin/osls"), "invoke", "local", "-f", function, "--path", sample],
        cwd=ROOT / "services/users",
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_invoke_local_runs_a_function_against_the_live_stack_with_no_setup(stack: LocalStack) -> None:
    """The walkthrough of docs/local-stack.md: the users service's sample event reads the profile
    created over HTTP a moment before."""
    sample = json.loads((ROOT / "services/users/events/get_user.json").read_text())
    user = sample["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    email = f"{user}@example.com".lower()
    created = stack.request(
        "POST", "/users", token=stack.token(user), body={"email": email, "name": "Sample"}
    )
    assert created.status == 201, created.body

    invoked = _invoke_local("api", "events/get_user.json", stack.state_dir)

    assert invoked.returncode == 0, invoked.stdout + invoked.stderr
    response = json.loads(invoked.stdout[invoked.stdout.index("{\n") :])
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["email"] == email
    assert f"against the local stack, AWS endpoint {stack.aws}" in invoked.stderr


def test_invoke_local_without_a_running_stack_says_how_to_start_one(tmp_path: Path) -> None:
    invoked = _invoke_local("api", "events/get_user.json", tmp_path)

    assert invoked.returncode != 0
    assert "No local stack is running: start one with `make dev`" in invoked.stdout + invoked.stderr


def test_a_failing_consumer_never_stops_the_stack(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    stacks = Stacks(sqs_endpoint=stack.aws)
    consumers = {}  # queue name -> function name
    for service, template in stacks.templates.items():
        for _, props in template.of_type("AWS::Lambda::EventSourceMapping"):
            source = stacks.resolve(service, props["EventSourceArn"])
            if ":sqs:" in source:
                function = stacks.resolve(service, props["FunctionName"]).rsplit(":function:", 1)[-1]
                consumers[source.rsplit(":", 1)[1]] = function
    assert consumers, "no queue has a consumer: this test checks nothing"
    before = len(stack.log_text())

    for queue in consumers:
        sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody="not an event")

    def outcomes() -> dict[str, str] | None:
        found = dict(re.findall(r"sqs → (\S+): \d+ record\(s\), (\w+)", stack.log_text()[before:]))
        return found if set(consumers.values()) <= found.keys() else None

    wait_until(outcomes, 10, "every consumer to get its poison message")
    # The one rejection policy (shared.consumer): each poison message rests in its queue's DLQ at
    # once, with its reason, instead of failing its consumer until maxReceiveCount.
    for queue in consumers:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        policy = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        dlq = sqs.get_queue_url(QueueName=policy["deadLetterTargetArn"].rsplit(":", 1)[1])["QueueUrl"]
        [letter] = sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
        assert letter["Body"] == "not an event", queue
        assert letter["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"], queue
    hank = stack.token("hank")
    created = stack.request("POST", "/users", token=hank, body={"email": "hank@example.com", "name": "Hank"})
    assert created.status == 201, created.body

    def welcomed() -> bool:
        page = stack.request("GET", "/users/hank/notifications", token=hank).body
        return [n["template"] for n in page["notifications"]] == ["welcome"]

    wait_until(welcomed, 10, "the welcome e-mail after the poison messages")
