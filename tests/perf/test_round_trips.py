"""Round trips are counted, never timed: a read is one AWS call, a list one Query per page, and an
outbox publisher sends ⌈n/10⌉ PutEvents for n events."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace

import pytest

from devtools.bench.calls import counts
from devtools.bench.round_trips import expected_calls, outbox_publishers, put_events_calls, route_calls
from devtools.bench.scenarios import Scenarios
from devtools.bench.world import world
from devtools.emulator.apigw import routes

READS = ["GET /users/{id}", "GET /orders/{id}", "GET /users/{id}/orders", "GET /users/{id}/notifications"]


@pytest.fixture(scope="module")
def scenarios() -> Iterator[Scenarios]:
    with world() as current:
        yield Scenarios(current)


def test_every_read_route_of_the_templates_is_checked(scenarios):
    reads = {r.route_key for r in routes(scenarios.world.stacks) if expected_calls(r.route_key) is not None}
    assert reads == set(READS)


@pytest.mark.parametrize("route_key", READS)
def test_a_read_is_one_round_trip(scenarios, route_key):
    made = route_calls(scenarios, route_key)
    assert made is not None, f"no scenario for {route_key}"
    assert len(made) == 1, [call.name for call in made]


def test_listing_orders_is_one_query_per_page(scenarios):
    user = scenarios.fresh_user()
    for _ in range(3):
        scenarios.placed_order(user, drain=False)
    first = replace(scenarios.on_user("GET /users/{id}/orders", user), query="limit=2")
    with scenarios.world.recorder.recording() as page_one:
        cursor = json.loads(scenarios.call(first)["body"])["next_cursor"]
    assert cursor
    with scenarios.world.recorder.recording() as page_two:
        body = json.loads(scenarios.call(replace(first, query=f"limit=2&cursor={cursor}"))["body"])
    assert len(body["orders"]) == 1
    assert counts(page_one) == counts(page_two) == {"dynamodb.Query": 1}


@pytest.mark.parametrize("events", [1, 10, 11, 25])
def test_an_outbox_batch_takes_one_put_events_per_ten_events(scenarios, events):
    publishers = outbox_publishers(scenarios.world)
    assert {m.function.service for m in publishers} == {"users", "orders"}
    for mapping in publishers:
        assert put_events_calls(scenarios.world, mapping, events) == math.ceil(events / 10)
