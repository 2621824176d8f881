"""Fixtures of the users tests: the API called as API Gateway calls it, the table, its stream, and a
tap on the shared bus."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from devtools.emulator.apigw import http_event, jwt_claims
from devtools.template import Stacks
from devtools.testkit.fixtures import BusRecorder, item_reader, read_outbox


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any  # the decoded JSON, None when empty


ROUTE_KEYS = {
    "POST": "POST /users",
    "GET": "GET /users/{id}",
    "PATCH": "PATCH /users/{id}",
    "DELETE": "DELETE /users/{id}",
}


@pytest.fixture
def call_api(aws: Stacks, lambda_function: Callable) -> Callable[..., HttpResult]:
    """``call_api("PATCH", "/users/u1", body={...}, user="u1")`` through the real handler."""
    api = lambda_function("users", "api")

    def call(
        method: str,
        path: str,
        *,
        body: Any = None,
        user: str = "u1",
        admin: bool = False,
        headers: dict[str, str] | None = None,
    ) -> HttpResult:
        raw = body if body is None or isinstance(body, str | bytes) else json.dumps(body)
        claims = jwt_claims(user, groups=("admin",) if admin else ())
        event = http_event(
            method, path, route_key=ROUTE_KEYS[method], body=raw, headers=headers, claims=claims
        )
        response = api(event)
        text = response.get("body")
        return HttpResult(response["statusCode"], response["headers"], json.loads(text) if text else None)

    return call


@pytest.fixture
def table(aws: Stacks) -> Callable[[str, str], dict[str, Any] | None]:
    """``table("USER#u1", "PROFILE")`` → the stored item (low-level shape) or None."""
    return item_reader(aws, "users", "UsersTable")


@pytest.fixture
def outbox(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """The events waiting in the users outbox, oldest first."""
    return lambda: read_outbox(aws, "users")


@pytest.fixture
def stream_records(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """Every record of the users table's stream as Lambda delivers it (moto's records, JSON-encoded,
    with ``eventSourceARN``)."""
    dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    name = aws.physical_name("users", "UsersTable")

    def read() -> list[dict[str, Any]]:
        stream_arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
        records = []
        for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records += streams.get_records(ShardIterator=iterator)["Records"]
        # Lambda's JSON has epoch seconds where boto3 parsed datetimes.
        encoded = json.loads(json.dumps(records, default=lambda value: value.timestamp()))
        return [record | {"eventSourceARN": stream_arn} for record in encoded]

    return read


@pytest.fixture
def bus_events(bus_recorder: BusRecorder) -> Callable[[], list[dict[str, Any]]]:
    """What ``shop.users`` published on the shared bus since the last call."""
    return lambda: bus_recorder.new("shop.users")
