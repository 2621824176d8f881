"""Round trips: the AWS calls each HTTP route makes (read paths: one; a list: one Query per page),
and the PutEvents calls of each outbox publisher per stream batch (⌈n/10⌉)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from devtools.bench.calls import Call, counts
from devtools.bench.scenarios import Scenarios
from devtools.bench.table import Table
from devtools.bench.world import World, world
from devtools.emulator.apigw import routes
from devtools.emulator.plumbing import EventSourceMapping
from shared.events.envelope import Envelope
from shared.events.users import UserCreated
from shared.outbox import outbox_put

BATCH_SIZES = (1, 10, 11, 25)


def route_calls(scenarios: Scenarios, route_key: str) -> list[Call] | None:
    """The calls of one request on a warm function (None: no scenario for the route)."""
    warm = scenarios.request(route_key)
    if warm is None:
        return None
    scenarios.call(warm)
    request = scenarios.request(route_key)
    assert request is not None  # noqa: S101 - the same builder answered just above
    with scenarios.world.recorder.recording() as made:
        scenarios.call(request)
    scenarios.world.sync_mirror()
    return made


def expected_calls(route_key: str) -> int | None:
    """The target: a read is one call; writes have none."""
    return 1 if route_key.startswith("GET ") else None


def outbox_publishers(world: World) -> list[EventSourceMapping]:
    """The stream mappings that receive outbox inserts."""
    return [m for m in world.plumbing.mappings if m.kind == "dynamodb" and m.accepts(_outbox_record(0, "t"))]


def _outbox_record(index: int, table: str) -> dict:
    data = UserCreated(
        user_id=f"u{index}",
        email=f"u{index}@example.com",
        name="Bench",
        version=1,
        created_at=datetime.now(UTC),
    )
    item = outbox_put(table, Envelope.wrap(data, correlation_id="bench"))["Put"]["Item"]
    return {
        "eventID": str(index),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"PK": item["PK"], "SK": item["SK"]},
            "NewImage": item,
            "SequenceNumber": str(100 + index),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def put_events_calls(world: World, mapping: EventSourceMapping, events: int) -> int:
    records = [
        _outbox_record(i, mapping.table_name) | {"eventSourceARN": mapping.source_arn} for i in range(events)
    ]
    _, made = world.invoke(mapping.function.name, {"Records": records})
    return counts(made)["events.PutEvents"]


def run(repeat: int) -> Table:
    table = Table(
        "Round trips: AWS calls per request on a warm function (moto, in process)",
        ["route or batch", "AWS calls", "calls made", "target", "verdict"],
    )
    with world() as current:
        scenarios = Scenarios(current)
        for route in routes(current.stacks):
            try:
                made = route_calls(scenarios, route.route_key)
            except RuntimeError as error:
                table.skip(route.route_key, str(error))
                continue
            if made is None:
                table.skip(route.route_key, "no scenario in devtools/bench/scenarios.py")
                continue
            target = expected_calls(route.route_key)
            detail = ", ".join(f"{name} x{n}" for name, n in counts(made).items())
            verdict = (
                "-" if target is None else ("ok" if len(made) == target else f"{len(made) - target} extra")
            )
            table.add(route.route_key, len(made), detail, target if target is not None else "-", verdict)
        for mapping in outbox_publishers(current):
            for size in BATCH_SIZES:
                made = put_events_calls(current, mapping, size)
                target = math.ceil(size / 10)
                table.add(
                    f"{mapping.function.name}: {size} events",
                    made,
                    f"events.PutEvents x{made}",
                    target,
                    "ok" if made == target else f"{made - target} extra",
                )
    return table
