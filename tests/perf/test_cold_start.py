"""The cold-request floor makes the AWS calls the handler's first invocation made: replayed on the
same empty resources, it leaves the endpoint holding what the handler left. A sample that acts on
another's state runs on it, so the measured path is the one the sample is for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from devtools.bench.cold_start import endpoint, first_invocation, in_fresh_interpreter
from devtools.bench.packages import unpacked
from devtools.emulator.lambda_runtime import functions
from devtools.template import REGION, Stacks


def _items(url: str) -> dict[str, list[dict[str, Any]]]:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=url)
    return {name: dynamodb.scan(TableName=name)["Items"] for name in dynamodb.list_tables()["TableNames"]}


def _names(calls: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{service}.{operation}" for service, operation, _ in calls]


def _shape(tables: dict[str, list[dict[str, Any]]]) -> list[tuple[str, ...]]:
    """Each item as its table, key kind (``OUTBOX``, ``USER``), sort key, status and attributes."""
    return sorted(
        (
            table,
            item["PK"]["S"].split("#")[0],
            item["SK"]["S"],
            item.get("status", {}).get("S", ""),
            *sorted(item),
        )
        for table, items in tables.items()
        for item in items
    )


def test_the_floor_replays_the_first_invocation_of_sync_profiles(tmp_path: Path) -> None:
    stacks = Stacks()
    spec = functions(stacks)[f"shop-orders-{stacks.stage}-sync-profiles"]
    with unpacked(["orders"]) as (codes, runtime), endpoint() as aws:
        plan = first_invocation(spec, stacks, codes["orders"], runtime, aws, tmp_path / "calls.pickle")
        aws.reset()
        in_fresh_interpreter(plan.cold_request, plan.env)
        after_handler = _items(aws.url)
        aws.reset()
        in_fresh_interpreter(plan.floor, plan.env)
        after_floor = _items(aws.url)

    assert (plan.outcome, plan.clients, _names(plan.calls)) == (
        "0 failed records",
        ["dynamodb"],
        ["dynamodb.GetItem", "dynamodb.PutItem"],  # the profile-copy rule reads, then saves on a condition
    )
    assert any(after_handler.values()), "the handler wrote nothing: the comparison would prove nothing"
    assert after_floor == after_handler


def test_a_fulfilment_task_runs_on_the_order_its_sample_names(tmp_path: Path) -> None:
    """confirm_order.json names the order process_intake.json records for the user of
    sync_profiles.json: those replayed first, the task confirms it (on empty resources it would
    only read, and raise OrderNotFound)."""
    stacks = Stacks()
    specs = functions(stacks)
    sync, intake, confirm = (
        specs[f"shop-orders-{stacks.stage}-{name}"]
        for name in ("sync-profiles", "process-intake", "confirm-order")
    )
    with unpacked(["orders"]) as (codes, runtime), endpoint() as aws:
        synced = first_invocation(sync, stacks, codes["orders"], runtime, aws, tmp_path / "sync.pickle")
        seeds = {("orders", synced.sample): synced.calls}
        placed = first_invocation(
            intake, stacks, codes["orders"], runtime, aws, tmp_path / "intake.pickle", seeds
        )
        seeds["orders", placed.sample] = placed.seed + placed.calls
        plan = first_invocation(
            confirm, stacks, codes["orders"], runtime, aws, tmp_path / "confirm.pickle", seeds
        )
        aws.reset(plan.seed)
        in_fresh_interpreter(plan.cold_request, plan.env)
        after_handler = _items(aws.url)
        aws.reset(plan.seed)
        in_fresh_interpreter(plan.floor, plan.env)
        after_floor = _items(aws.url)

    assert _names(placed.calls) == ["dynamodb.TransactWriteItems"]  # PENDING: the profile is there
    assert plan.seed == synced.calls + placed.calls
    assert (plan.outcome, _names(plan.calls)) == (
        "returned",
        ["dynamodb.GetItem", "dynamodb.TransactWriteItems"],
    )
    statuses = [item["status"]["S"] for items in after_handler.values() for item in items if "status" in item]
    assert statuses == ["CONFIRMED"]
    # The handler run again makes a new event id and time; the floor replays the recorded ones.
    assert _shape(after_floor) == _shape(after_handler)
