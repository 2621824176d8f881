"""An edit to a service's ``serverless.yml`` is served by the running stack: the service is packaged
again and what changed is served by the next request, with the data intact; a definition that does
not package leaves the previous one served, and the log shows the framework's error.

The stack runs from a copy of the repository that can package (``copy_repo(packaging=True)``).
The copy's users API handler adds ``x-test-greeting`` (its ``TEST_GREETING`` variable) to every
response, and the copy's users service has an ``echo`` handler for SQS batches, for the edit
below to map to a new queue.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator

import pytest

from tests.e2e.local_stack import LocalStack, copy_repo, kill, start, stop_every_process, wait_until

pytestmark = pytest.mark.e2e

RELOAD_TIMEOUT = 60  # seconds for a reload: packaging a service takes 2 to 5 s, more under load
HANDLER = "services/users/src/users/handlers/api.py"
DEFINITION = "services/users/serverless.yml"
GREETING_HANDLER = """

# Added by tests/e2e/test_local_stack_reload.py to its copy of the repository.
import os as _os

_handler = handler


def handler(event, context):
    response = _handler(event, context)
    response.setdefault("headers", {})["x-test-greeting"] = _os.environ.get("TEST_GREETING", "")
    return response


def echo(event, context):
    return {"batchItemFailures": []}
"""
# The edit, in two saves: an environment variable and a route for the API, then a new function
# fed by a new queue.
API_EVENTS = "    events:\n      - httpApi: { method: POST, path: /users, authorizer: { name: jwt } }\n"
API_EDITED = (
    "    environment:\n      TEST_GREETING: two\n"
    + API_EVENTS
    + "      - httpApi: { method: GET, path: '/users/{id}/greeting', authorizer: { name: jwt } }\n"
)
FUNCTIONS_END = "  publish-events: ${file(../../serverless/outbox.yml):function}\n"
ECHO_FUNCTION = """
  echo:
    handler: users/handlers/api.echo
    events:
      - sqs: { arn: !GetAtt EchoQueue.Arn, batchSize: 1 }
"""
RESOURCES_START = "  Resources:\n"
ECHO_QUEUE = """    EchoQueue:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: shop-users-${sls:stage}-echo
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The copy's stack; stopped with SIGTERM while it packages a service: every process of the
    stack, the packaging included, must be gone within 3 s."""
    base = tmp_path_factory.mktemp("reload")
    repo = copy_repo(base, packaging=True)
    with (repo / HANDLER).open("a") as handler:
        handler.write(GREETING_HANDLER)
    local = start(base, repo)
    try:
        yield local
        packagings = len(re.findall(r"→ packaging shop-users-dev\n", local.log_text()))
        with (local.root / DEFINITION).open("a") as definition:
            definition.write("# saved once more\n")
        wait_until(
            lambda: len(re.findall(r"→ packaging shop-users-dev\n", local.log_text())) > packagings,
            RELOAD_TIMEOUT,
            "a packaging under way",
            0.05,
        )
        assert stop_every_process(local, signal.SIGTERM, 3.0) < 3.0
        assert local.process.returncode == 0, local.log_text()[-3000:]
    finally:
        kill(local.process)


def _edit(stack: LocalStack, old: str, new: str) -> None:
    path = stack.root / DEFINITION
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _reloads(stack: LocalStack) -> list[str]:
    return re.findall(r"reload: services/users/serverless\.yml → (.*)", stack.log_text())


def _create(stack: LocalStack, user: str) -> str:
    token = stack.minted_token(user)
    body = {"email": f"{user}@example.com", "name": user}
    created = stack.request("POST", "/users", token=token, body=body)
    assert created.status == 201, created.body
    return token


def test_an_edit_to_a_serverless_yml_is_served_by_the_next_request_with_the_data_intact(
    stack: LocalStack,
) -> None:
    token = _create(stack, "dan")
    assert stack.request("GET", "/users/dan/greeting", token=token).body == {"message": "Not Found"}
    reloads = len(_reloads(stack))

    _edit(stack, API_EVENTS, API_EDITED)
    time.sleep(0.1)  # a second save in a row: packaged once with the first
    _edit(stack, FUNCTIONS_END, FUNCTIONS_END + ECHO_FUNCTION)
    _edit(stack, RESOURCES_START, RESOURCES_START + ECHO_QUEUE)

    def greeted() -> bool:
        reply = stack.request("GET", "/users/dan/greeting", token=token)
        return reply.headers.get("x-test-greeting") == "two"  # the new route, to the function

    wait_until(greeted, RELOAD_TIMEOUT, "the new route and variable to be served", interval=0.5)
    reply = stack.request("GET", "/users/dan", token=token)
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "dan@example.com"  # the data is intact
    assert reply.headers["x-test-greeting"] == "two"  # the existing route's function has the new variable
    [reload] = _reloads(stack)[reloads:]
    assert re.match(r"repackaged shop-users-dev in \d+\.\d s: ", reload), reload
    for change in (
        "function echo added",
        "function api environment (TEST_GREETING) changed",
        "route GET /users/{id}/greeting added",
        "sqs mapping shop-users-dev-echo → echo added",
        "queue shop-users-dev-echo added",
    ):
        assert change in reload, reload
    # The new queue exists and its new mapping has a poller; CloudFormation reads see the new stack.
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="shop-users-dev-echo")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
    wait_until(
        lambda: "sqs → shop-users-dev-echo: 1 record(s), ok" in stack.log_text(), 30, "the echo delivery"
    )
    resources = stack.client("cloudformation").list_stack_resources(StackName="shop-users-dev")
    assert "EchoQueue" in {r["LogicalResourceId"] for r in resources["StackResourceSummaries"]}


def test_a_serverless_yml_that_does_not_package_leaves_the_previous_definition_served(
    stack: LocalStack,
) -> None:
    token = _create(stack, "eve")
    path = stack.root / DEFINITION
    valid = path.read_text()
    reloads = len(_reloads(stack))

    path.write_text(valid + "broken: [\n")

    failed = wait_until(
        lambda: _reloads(stack)[reloads:], RELOAD_TIMEOUT, "the packaging to fail", interval=0.5
    )
    assert failed[0].startswith("packaging shop-users-dev failed; it keeps its previous definition:")
    assert 'Cannot parse "serverless.yml"' in stack.log_text()  # the framework's own error
    reply = stack.request("GET", "/users/eve", token=token)
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "eve@example.com"

    path.write_text(valid)  # fixed: packaged again, nothing served changes

    done = wait_until(
        lambda: _reloads(stack)[reloads + 1 :], RELOAD_TIMEOUT, "the fixed file to package", interval=0.5
    )
    unchanged = r"repackaged shop-users-dev in \d+\.\d s: nothing the local stack serves changed"
    assert re.match(unchanged, done[0]), done[0]
