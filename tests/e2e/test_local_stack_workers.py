"""Each function of the local stack runs in processes of its own: in parallel with other functions,
up to a cap with itself, killed at its ``Timeout``, stopped when idle, gone with the stack, and
reloaded when its code changes.

The stack runs from a copy of the repository (its packaged templates included), so that these
tests can make one function slow and shorten its ``Timeout`` without touching the working tree:
the copy's users API handler sleeps before answering for a user whose id is ``sleep-<seconds>``,
and tags every response with the build it runs (``x-test-build``).
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.template import TEMPLATE
from tests.e2e.local_stack import LocalStack, Reply, copy_repo, kill, start, stop_every_process, wait_until

pytestmark = pytest.mark.e2e

USERS_API = "shop-users-dev-api"
TIMEOUT = 6  # seconds: the copy's users API Timeout (its sleeps below stay well under it)
CONCURRENCY = 2  # LOCAL_CONCURRENCY of the stack under test
IDLE_EXIT = 8  # LOCAL_IDLE_EXIT (seconds): long enough for one test's steps, short enough to wait for
HANDLER = "services/users/src/users/handlers/api.py"
SLOW_HANDLER = """

# Added by tests/e2e/test_local_stack_workers.py to its copy of the repository.
import time as _time

BUILD = "one"
_handler = handler


def handler(event, context):
    user = (event.get("pathParameters") or {}).get("id", "")
    if user.startswith("sleep-"):
        _time.sleep(float(user.removeprefix("sleep-")))
    response = _handler(event, context)
    response.setdefault("headers", {})["x-test-build"] = BUILD
    return response
"""


def _copy_with_a_slow_users_api(into: Path) -> Path:
    repo = copy_repo(into)
    with (repo / HANDLER).open("a") as handler:
        handler.write(SLOW_HANDLER)
    template_path = repo / "services/users" / TEMPLATE
    template = json.loads(template_path.read_text())
    [function] = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"]["FunctionName"] == USERS_API
    ]
    function["Properties"]["Timeout"] = TIMEOUT
    template_path.write_text(json.dumps(template))
    return repo


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The copy's stack; stopped with SIGTERM while a request sleeps in a worker: every process of
    the stack, that worker included, must be gone within 3 s."""
    base = tmp_path_factory.mktemp("workers")
    repo = _copy_with_a_slow_users_api(base)
    local = start(base, repo, LOCAL_CONCURRENCY=str(CONCURRENCY), LOCAL_IDLE_EXIT=str(IDLE_EXIT))
    try:
        yield local
        sleeper = threading.Thread(target=_get_user, args=(local, "sleep-2"), daemon=True)
        sleeper.start()
        wait_until(lambda: _workers_of(local, USERS_API), 10, "a worker for the sleeping request")
        assert stop_every_process(local, signal.SIGTERM, 3.0) < 3.0
        assert local.process.returncode == 0, local.log_text()[-3000:]
    finally:
        kill(local.process)


def _get_user(stack: LocalStack, user: str) -> Reply:
    try:
        return stack.request("GET", f"/users/{user}", token=stack.minted_token(user))
    except OSError as error:  # the stack stopped under it (the fixture's teardown)
        return Reply(0, str(error), {})


def _timed(stack: LocalStack, user: str, replies: list[tuple[float, Reply]]) -> None:
    started = time.monotonic()
    reply = _get_user(stack, user)
    replies.append((time.monotonic() - started, reply))


def _workers_of(stack: LocalStack, function: str) -> set[int]:
    """The workers the log says were started for ``function`` and not stopped since."""
    text = stack.log_text()
    started = set(map(int, re.findall(rf"{function}: worker (\d+) started", text)))
    stopped = set(map(int, re.findall(rf"{function}: (?:timed out .*: )?worker (\d+) (?:killed|idle)", text)))
    return started - stopped


def _in_parallel(stack: LocalStack, users: list[str]) -> list[tuple[float, Reply]]:
    replies: list[tuple[float, Reply]] = []
    threads = [threading.Thread(target=_timed, args=(stack, user, replies)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def test_a_slow_function_does_not_hold_up_another(stack: LocalStack) -> None:
    ann = stack.token("ann")
    stack.request("GET", "/users/ann/orders", token=ann)  # both functions warm: init is not measured
    _get_user(stack, "sleep-0")
    slow = threading.Thread(target=_get_user, args=(stack, "sleep-3"))
    slow.start()
    time.sleep(0.5)

    reply = stack.request("GET", "/users/ann/orders", token=ann)

    assert slow.is_alive(), "the orders API answered only after the users API's sleep"
    slow.join()
    assert reply.status == 200, reply.body


def test_one_function_runs_up_to_its_cap_at_once_and_more_wait(stack: LocalStack) -> None:
    _in_parallel(stack, ["sleep-0.1"] * CONCURRENCY)  # the workers started (init is not timed)

    replies = _in_parallel(stack, ["sleep-2"] * (CONCURRENCY + 1))

    durations = sorted(duration for duration, _ in replies)
    assert [reply.status for _, reply in replies] == [404] * (CONCURRENCY + 1)  # no such user: answered
    assert durations[0] < 4.0, durations  # the first ones ran at once
    assert durations[-1] >= 4.0, durations  # the last waited for one of them, then slept


def test_a_function_over_its_timeout_is_killed_and_the_next_invocation_gets_a_fresh_worker(
    stack: LocalStack,
) -> None:
    bea = stack.token("bea")
    created = stack.request("POST", "/users", token=bea, body={"email": "bea@example.com", "name": "Bea"})
    assert created.status == 201, created.body
    before = _workers_of(stack, USERS_API)

    [(duration, reply)] = _in_parallel(stack, ["sleep-30"])

    assert (reply.status, reply.body) == (500, {"message": "Internal Server Error"})
    assert TIMEOUT <= duration < TIMEOUT + 5, duration
    killed_line = rf"{USERS_API}: timed out after {TIMEOUT} s \(its Timeout\): worker (\d+) killed"
    killed = re.findall(killed_line, stack.log_text())[-1]
    assert not Path(f"/proc/{killed}").exists()
    again = stack.request("GET", "/users/bea", token=bea)
    assert again.status == 200, again.body  # the data is intact
    live = _workers_of(stack, USERS_API)
    assert int(killed) in before
    assert int(killed) not in live
    # Served by a fresh worker, or (as Lambda may) by another environment already warm.
    assert live - before or before - {int(killed)}, "no fresh worker started"


def test_a_function_invoked_through_the_aws_endpoint_over_its_timeout_fails_as_lambda_answers(
    stack: LocalStack,
) -> None:
    """What a state machine's task gets for a function over its ``Timeout``: ``Sandbox.Timedout``."""
    event = json.loads((stack.root / "services/users/events/get_user.json").read_text())
    event["pathParameters"] = {"id": "sleep-30"}
    started = time.monotonic()

    reply = stack.client("lambda").invoke(FunctionName=USERS_API, Payload=json.dumps(event).encode())

    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 5
    assert reply["FunctionError"] == "Unhandled"
    error = json.loads(reply["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == (
        "Sandbox.Timedout",
        f"Task timed out after {TIMEOUT:.2f} seconds",
    )
    assert f"states → {USERS_API}: 1 record(s), raised Sandbox.Timedout" in stack.log_text()


def test_idle_workers_exit(stack: LocalStack) -> None:
    assert stack.request("GET", "/users/cid", token=stack.token("cid")).status == 404
    workers = _workers_of(stack, USERS_API)
    assert workers

    wait_until(lambda: not _workers_of(stack, USERS_API), IDLE_EXIT + 10, "the idle workers to exit")

    assert f"{USERS_API}: worker" in stack.log_text()
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), pid


def test_an_edit_to_a_handler_is_served_by_the_next_invocation_with_the_data_intact(
    stack: LocalStack,
) -> None:
    dan = stack.token("dan")
    created = stack.request("POST", "/users", token=dan, body={"email": "dan@example.com", "name": "D"})
    assert created.status == 201, created.body
    assert stack.request("GET", "/users/dan", token=dan).headers["x-test-build"] == "one"
    handler = stack.root / HANDLER

    handler.write_text(handler.read_text().replace('BUILD = "one"', 'BUILD = "two"'))

    def rebuilt() -> Reply | None:
        reply = stack.request("GET", "/users/dan", token=dan)
        return reply if reply.headers.get("x-test-build") == "two" else None

    reply = wait_until(rebuilt, 15, "the edited handler to answer")
    assert reply.status == 200, reply.body
    assert reply.body["email"] == "dan@example.com"
    assert re.search(r"reload .*users/handlers/api\.py", stack.log_text()), stack.log_text()[-3000:]
