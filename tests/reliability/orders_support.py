"""What the orders reliability tests share: an order body, profile copies made the way production
makes them (``UserCreated`` on the bus → rule → queue → sync-profiles), and what the orders table holds."""

from __future__ import annotations

import boto3

from devtools.emulator.plumbing import Plumbing
from devtools.template import Stacks
from devtools.testkit.eventbridge import publish
from devtools.testkit.fixtures import item_reader, read_outbox
from tests.reliability.consumers import only
from tests.reliability.events import user_created

ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


def create_profiles(aws: Stacks, plumbing: Plumbing, *users: str) -> None:
    """Give each user a profile copy in the orders table, through the bus and sync-profiles."""
    publish(aws, *(user_created(user) for user in users))
    saved = plumbing.mappings
    only(plumbing, "orders", "sync-profiles")
    while plumbing.deliver_queues():
        pass
    plumbing.mappings = saved
    for user in users:
        assert stored(aws, f"USER#{user}", "PROFILE"), f"no profile copy for {user}"


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
