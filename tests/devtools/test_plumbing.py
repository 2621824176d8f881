"""The plumbing's rounds over the DynamoDB streams (``devtools.emulator.plumbing``), on moto provisioned
from the packaged templates."""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import dynamodb_backends

from devtools.emulator.plumbing import Plumbing

USERS_TABLE = "shop-users-dev"


def _sign_up(call_http: Any, user: str) -> None:
    result = call_http(
        "users", "POST", "/users", body={"email": f"{user}@example.com", "name": "N"}, user=user
    )
    assert result.status == 201, result.body


def _deliver(plumbing: Plumbing) -> int:
    """Rounds until one moves nothing; the records delivered."""
    delivered = 0
    while moved := plumbing.deliver_streams():
        delivered += moved
    return delivered


def test_rounds_describe_a_table_again_only_when_its_stream_changed(call_http, plumbing) -> None:
    """Describing a table costs moto a count of its items: a round that did it made every round's cost
    grow with the tables. A round describes the table's stream, which tells a stream created again."""
    described: list[str] = []
    plumbing.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.DescribeTable",
        lambda params, **_: described.append(params["TableName"]),
    )
    plumbing.invoker = lambda name, event: None  # every batch handled
    _sign_up(call_http, "u1")
    assert _deliver(plumbing) > 0
    tables = sorted(described)
    assert USERS_TABLE in tables
    for user in ("u2", "u3"):
        _sign_up(call_http, user)
        assert _deliver(plumbing) > 0
    assert sorted(described) == tables, "each table described once, in the first round"

    moto_table = dynamodb_backends[plumbing.stacks.account][plumbing.stacks.region].tables[USERS_TABLE]
    moto_table.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    _deliver(plumbing)
    assert sorted(described) == sorted([*tables, USERS_TABLE]), "the users' table described again"


def test_a_stream_created_again_is_read_from_its_first_record(call_http, plumbing) -> None:
    """A consumer keeps its position per shard, as Lambda does: a stream created again (another
    StreamViewType) has shards of its own, and its first records reach the consumers."""
    delivered: list[str] = []
    plumbing.invoker = lambda name, event: delivered.extend(r["eventSourceARN"] for r in event["Records"])
    for user in ("u1", "u2", "u3"):
        _sign_up(call_http, user)
    _deliver(plumbing)
    moto_table = dynamodb_backends[plumbing.stacks.account][plumbing.stacks.region].tables[USERS_TABLE]
    old_stream = moto_table.latest_stream_label

    moto_table.set_stream_specification({"StreamEnabled": False})
    moto_table.set_stream_specification({"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    assert moto_table.latest_stream_label != old_stream
    delivered.clear()
    _sign_up(call_http, "u4")
    _deliver(plumbing)

    assert any(arn.endswith(f"/stream/{moto_table.latest_stream_label}") for arn in delivered)
