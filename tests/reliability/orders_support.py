"""What the orders reliability tests share: an order body, profile copies made the way production
makes them (``UserCreated`` on the bus → rule → queue → sync-profiles), requests with a header,
and what the orders table holds."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from devtools.emulator.plumbing import Plumbing
from devtools.template import Stacks
from devtools.testkit.fixtures import item_reader, read_outbox
from shared.events.envelope import Envelope
from shared.events.users import UserCreated
from tests.reliability.consumers import only
from tests.reliability.lambdas import Invoke

ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


def create_profiles(aws: Stacks, plumbing: Plumbing, *users: str) -> None:
    """Give each user a profile copy in the orders table, through the bus and sync-profiles."""
    bus = aws.physical_name("bus", "EventBus")
    entries = [
        Envelope.wrap(
            UserCreated(
                user_id=user,
                email=f"{user}@example.com",
                name=user.upper(),
                version=1,
                created_at=datetime.now(UTC),
            ),
            correlation_id=f"corr-created-{user}",
        ).to_entry(bus)
        for user in users
    ]
    events = boto3.client("events")
    for start in range(0, len(entries), 10):  # PutEvents takes 10 entries a call
        assert events.put_events(Entries=entries[start : start + 10])["FailedEntryCount"] == 0
    saved = plumbing.mappings
    only(plumbing, "orders", "sync-profiles")
    while plumbing.deliver_queues():
        pass
    plumbing.mappings = saved
    for user in users:
        assert stored(aws, f"USER#{user}", "PROFILE"), f"no profile copy for {user}"


def with_header(invoke: Invoke, name: str, value: str) -> Invoke:
    """``invoke`` with a request header, as API Gateway passes it (lower-cased)."""
    return lambda event: invoke({**event, "headers": {**event["headers"], name.lower(): value}})


def stored(aws: Stacks, pk: str, sk: str) -> dict | None:
    return item_reader(aws, "orders", "OrdersTable")(pk, sk)


def orders_of(aws: Stacks, user: str) -> list[dict]:
    table = aws.physical_name("orders", "OrdersTable")
    return boto3.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :order)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user}"}, ":order": {"S": "ORDER#"}},
        ConsistentRead=True,
    )["Items"]


def outbox(aws: Stacks) -> list[dict]:
    """The events the orders service wrote to its outbox, oldest first."""
    return read_outbox(aws, "orders")
