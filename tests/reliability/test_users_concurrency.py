"""Concurrent writes to the users API, each request in its own execution environment (as Lambda
runs concurrent invocations), in threads against moto.

The dangerous interleaving is forced, not hoped for: a ``Rendezvous`` holds every request at its
``TransactWriteItems`` until all of them have read the profile, so they all decided on the same
state before anyone wrote. Calls into moto then run one at a time (moto is not thread-safe, and
DynamoDB serialises the writes to one item); which request wins is up to the scheduler.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.template import Stacks
from devtools.testkit.fixtures import item_reader, read_outbox
from devtools.testkit.http import HttpResult, api_routes, http_request
from tests.reliability.faults import Rendezvous
from tests.reliability.lambdas import execution_environments


def stored(aws: Stacks, pk: str, sk: str) -> dict | None:
    return item_reader(aws, "users", "UsersTable")(pk, sk)


def outbox_events(aws: Stacks, detail_type: str) -> list[dict]:
    return [event for event in read_outbox(aws, "users") if event["detail_type"] == detail_type]


def concurrently(aws: Stacks, function_specs, requests: list[tuple[str, str, dict, str]]) -> list[HttpResult]:
    """Each (method, path, body, user) in its own execution environment, all at once."""
    spec = function_specs["shop-users-dev-api"]
    environments = execution_environments(spec, len(requests))
    table = api_routes(aws, "users")

    def send(index: int) -> HttpResult:
        method, path, body, user = requests[index]
        return http_request(environments[index], table, method, path, body=body, user=user)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, range(len(requests))))


def test_50_concurrent_patches_of_one_version_one_wins_no_update_is_lost(
    call_http, aws, concurrent_aws_faults, function_specs
):
    assert (
        call_http("users", "POST", "/users", body={"email": "ann@example.com", "name": "Ann"}).status == 201
    )
    writers = 50
    concurrent_aws_faults.on("TransactWriteItems", Rendezvous(writers))
    requests = [("PATCH", "/users/u1", {"name": f"Writer {n}", "version": 1}, "u1") for n in range(writers)]

    results = concurrently(aws, function_specs, requests)

    assert Counter(result.status for result in results) == {200: 1, 409: writers - 1}
    [winner] = [result.body for result in results if result.status == 200]
    assert winner["version"] == 2
    profile = stored(aws, "USER#u1", "PROFILE")
    assert (profile["name"]["S"], profile["version"]["N"]) == (winner["name"], "2")
    assert all("changed since it was read" in r.body["message"] for r in results if r.status == 409)
    [event] = outbox_events(aws, "UserUpdated")
    assert event["data"]["name"] == winner["name"]


@pytest.mark.parametrize("racers", [2, 10])
def test_users_racing_to_create_with_one_email_one_wins(
    call_http, aws, concurrent_aws_faults, function_specs, racers
):
    concurrent_aws_faults.on("TransactWriteItems", Rendezvous(racers))
    requests = [
        ("POST", "/users", {"email": "Same@Example.com", "name": f"R{n}"}, f"r{n}") for n in range(racers)
    ]

    results = concurrently(aws, function_specs, requests)

    assert Counter(result.status for result in results) == {201: 1, 409: racers - 1}
    [winner] = [f"r{n}" for n, result in enumerate(results) if result.status == 201]
    assert stored(aws, "EMAIL#same@example.com", "EMAIL")["user_id"] == {"S": winner}
    losers = [f"r{n}" for n in range(racers) if f"r{n}" != winner]
    assert all(stored(aws, f"USER#{loser}", "PROFILE") is None for loser in losers)
    assert all("belongs to another user" in r.body["message"] for r in results if r.status == 409)
    assert len(outbox_events(aws, "UserCreated")) == 1


def test_two_users_racing_to_take_one_email_by_patch_one_wins(
    call_http, aws, concurrent_aws_faults, function_specs
):
    for user in ("u1", "u2"):
        body = {"email": f"{user}@example.com", "name": user}
        assert call_http("users", "POST", "/users", body=body, user=user).status == 201
    concurrent_aws_faults.on("TransactWriteItems", Rendezvous(2))
    requests = [
        ("PATCH", f"/users/{user}", {"email": "same@example.com", "version": 1}, user)
        for user in ("u1", "u2")
    ]

    results = concurrently(aws, function_specs, requests)

    assert sorted(result.status for result in results) == [200, 409]
    winner, loser = ("u1", "u2") if results[0].status == 200 else ("u2", "u1")
    assert stored(aws, "EMAIL#same@example.com", "EMAIL")["user_id"] == {"S": winner}
    # The loser keeps the address it had, and still holds its claim.
    assert stored(aws, f"USER#{loser}", "PROFILE")["email"] == {"S": f"{loser}@example.com"}
    assert stored(aws, f"EMAIL#{loser}@example.com", "EMAIL")["user_id"] == {"S": loser}
    assert stored(aws, f"EMAIL#{winner}@example.com", "EMAIL") is None
    assert len(outbox_events(aws, "UserUpdated")) == 1
