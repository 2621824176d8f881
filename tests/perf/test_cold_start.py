"""The cold-request floor makes the AWS calls the handler's first invocation made: replayed on the
same empty resources, it leaves the endpoint holding what the handler left."""

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

    assert (plan.outcome, plan.clients, plan.calls) == (
        "0 failed records",
        ["dynamodb"],
        ["dynamodb.GetItem", "dynamodb.PutItem"],  # the profile-copy rule reads, then saves on a condition
    )
    assert any(after_handler.values()), "the handler wrote nothing: the comparison would prove nothing"
    assert after_floor == after_handler
