"""The orders table (low-level DynamoDB client): orders and the outbox, next to the profile copies
(``shared.profile_copy_table`` keeps those).

One partition per user: ``PK=USER#<id>`` holds ``SK=PROFILE`` and ``SK=ORDER#<ulid>``. "PROFILE"
sorts after every "ORDER#...", so one descending ``Query`` returns the profile first, then the
orders newest first. ``GSI1`` (``GSI1PK=ORDER#<ulid>``) finds an order by its id alone.
Money is stored as decimal strings, times as ISO 8601 strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from orders.domain.model import (
    IDEMPOTENCY_WINDOW_SECONDS,
    KeyInFlight,
    KeyUsedForAnotherOrder,
    Order,
    OrderNotPending,
    OrderStatus,
)
from orders.domain.ports import KeyClaim, OrdersPage, Recorded, StatusConflict
from orders.settings import OrdersSettings
from shared.events.envelope import Envelope
from shared.keys import PROFILE_SK, cancelled_by_condition, condition_failed, user_pk
from shared.outbox import outbox_put
from shared.pagination import cut_page, start_key
from shared.profile_copy_table import active_profile_check, profile_from_item

ORDER_PREFIX = "ORDER#"
ORDERS_INDEX = "GSI1"
KEY_PREFIX = "IDEMPOTENCY#"  # + <user>#<Idempotency-Key>: its own partition, out of the user's
KEY_SK = "ORDER"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def _from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def order_item(order: Order) -> dict[str, Any]:
    return _to_item(
        {
            "PK": user_pk(order.user_id),
            "SK": ORDER_PREFIX + order.order_id,
            "GSI1PK": ORDER_PREFIX + order.order_id,
            "GSI1SK": ORDER_PREFIX + order.order_id,
            "entity": "ORDER",
            **order.model_dump(mode="json", exclude_none=True),
        }
    )


def order_from_item(item: Mapping[str, Any]) -> Order:
    """An order from a stored item (the table, its index, or a stream image)."""
    return Order.model_validate(_from_item(item))


def is_order_insert(record: Mapping[str, Any]) -> bool:
    """Whether a DynamoDB stream record is the insertion of an order."""
    image = record.get("dynamodb", {}).get("NewImage", {})
    return record.get("eventName") == "INSERT" and image.get("entity", {}).get("S") == "ORDER"


class OrdersTable:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, user_id: str, sort_key: str) -> dict[str, Any]:
        return {"PK": {"S": user_pk(user_id)}, "SK": {"S": sort_key}}

    # -- orders -----------------------------------------------------------------------------------

    def add_order(self, order: Order, event: Envelope, *, while_profile_active: bool) -> Recorded:
        put = {
            "Put": {
                "TableName": self._table,
                "Item": order_item(order),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        profile_check = [active_profile_check(self._table, order.user_id)] if while_profile_active else []
        try:
            self._client.transact_write_items(
                TransactItems=[put, outbox_put(self._table, event), *profile_check]
            )
        except ClientError as error:
            if cancelled_by_condition(error, 0):
                return Recorded.ALREADY_RECORDED
            if cancelled_by_condition(error, 2):
                return Recorded.USER_GONE
            raise
        return Recorded.ADDED

    def _key_item_key(self, user_id: str, key: str) -> dict[str, Any]:
        return {"PK": {"S": f"{KEY_PREFIX}{user_id}#{key}"}, "SK": {"S": KEY_SK}}

    def claim_key(
        self, user_id: str, key: str, order_id: str, fingerprint: str, *, now: datetime, hold_until: datetime
    ) -> KeyClaim:
        at, held_until = int(now.timestamp() * 1000), str(int(hold_until.timestamp() * 1000))
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key_item_key(user_id, key),
                    "entity": {"S": "IDEMPOTENCY_KEY"},
                    "order_id": {"S": order_id},
                    "fingerprint": {"S": fingerprint},
                    "held_until": {"N": held_until},
                    "expires_at": {"N": str(at // 1000 + IDEMPOTENCY_WINDOW_SECONDS)},
                },
                # An expired claim is free: TTL deletes items late.
                ConditionExpression="attribute_not_exists(PK) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(at // 1000)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return KeyClaim(order_id, queued=False)
        except ClientError as error:
            if not condition_failed(error):
                raise
            claimed = error.response.get("Item", {})
        if claimed.get("fingerprint", {}).get("S") != fingerprint:
            raise KeyUsedForAnotherOrder(key)
        claim = KeyClaim(claimed["order_id"]["S"], queued="queued" in claimed)
        if claim.queued:
            return claim
        if int(claimed["held_until"]["N"]) > at:
            raise KeyInFlight(key)
        try:  # the request holding the key died before its order was surely queued: one retry takes over
            self._client.update_item(
                TableName=self._table,
                Key=self._key_item_key(user_id, key),
                UpdateExpression="SET held_until = :until",
                ConditionExpression="held_until = :seen",
                ExpressionAttributeValues={":until": {"N": held_until}, ":seen": claimed["held_until"]},
            )
        except ClientError as error:
            if condition_failed(error):
                raise KeyInFlight(key) from None
            raise
        return claim

    def key_queued(self, user_id: str, key: str, order_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key_item_key(user_id, key),
                UpdateExpression="SET queued = :true",
                ConditionExpression="order_id = :order_id",
                ExpressionAttributeValues={":true": {"BOOL": True}, ":order_id": {"S": order_id}},
            )
        except ClientError as error:
            if not condition_failed(error):  # else the key expired and names another order now
                raise

    def get_order(self, user_id: str, order_id: str) -> Order | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(user_id, ORDER_PREFIX + order_id), ConsistentRead=True
        ).get("Item")
        return order_from_item(item) if item else None

    def find_order(self, order_id: str) -> Order | None:
        items = self._client.query(
            TableName=self._table,
            IndexName=ORDERS_INDEX,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": {"S": ORDER_PREFIX + order_id}},
            Limit=1,
        )["Items"]
        return order_from_item(items[0]) if items else None

    def start_payment_attempt(self, user_id: str, order_id: str) -> tuple[Order, int]:
        try:
            item = self._client.update_item(
                TableName=self._table,
                Key=self._key(user_id, ORDER_PREFIX + order_id),
                UpdateExpression="ADD payment_attempts :one",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":pending": {"S": OrderStatus.PENDING}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if condition_failed(error):
                raise OrderNotPending(f"order {order_id} is not PENDING") from None
            raise
        return order_from_item(item), int(item["payment_attempts"]["N"])

    def save_transition(self, before: Order, after: Order, event: Envelope) -> None:
        changes = {
            "status": after.status,
            "updated_at": after.updated_at.isoformat(),
            "invoice_number": after.invoice_number,
            "charge_id": after.charge_id,
            "failure_reason": after.failure_reason,
        }
        changes = {name: value for name, value in changes.items() if value is not None}
        names = {f"#{name}": name for name in changes}
        values = _to_item({f":{name}": value for name, value in changes.items()})
        new_entries = [entry.model_dump(mode="json", exclude_none=True) for entry in after.history]
        values[":entries"] = _serializer.serialize(new_entries[len(before.history) :])
        values[":before"] = {"S": before.status}
        assignments = ", ".join(f"#{name} = :{name}" for name in changes)
        update = {
            "TableName": self._table,
            "Key": self._key(before.user_id, ORDER_PREFIX + before.order_id),
            "UpdateExpression": f"SET {assignments}, history = list_append(history, :entries)",
            "ConditionExpression": "#status = :before",
            "ExpressionAttributeNames": names | {"#status": "status"},
            "ExpressionAttributeValues": values,
        }
        try:
            self._client.transact_write_items(
                TransactItems=[{"Update": update}, outbox_put(self._table, event)]
            )
        except ClientError as error:
            if cancelled_by_condition(error, 0):
                raise StatusConflict(before.order_id) from None
            raise

    def list_orders(self, user_id: str, limit: int, cursor: str | None) -> OrdersPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": user_pk(user_id)}},
            "ScanIndexForward": False,
            # One more order than the page holds tells whether another page exists; the first
            # page also holds the profile.
            "Limit": limit + 1 + (cursor is None),
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = start_key(user_pk(user_id), ORDER_PREFIX, cursor)
        response = self._client.query(**request)
        profile = None
        orders = []
        for item in response["Items"]:
            sort_key = item["SK"]["S"]
            if sort_key == PROFILE_SK:
                profile = profile_from_item(item)
            elif sort_key.startswith(ORDER_PREFIX):
                orders.append(order_from_item(item))
        page = cut_page(orders, limit, lambda order: order.order_id, truncated="LastEvaluatedKey" in response)
        return OrdersPage(
            profile=profile if profile and profile.is_active else None,
            orders=page.items,
            next_cursor=page.next_cursor,
        )

    def open_orders(self, user_id: str) -> Iterator[Order]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :order)",
            "FilterExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": {"S": user_pk(user_id)},
                ":order": {"S": ORDER_PREFIX},
                ":pending": {"S": OrderStatus.PENDING},
            },
            "ConsistentRead": True,
        }
        while True:
            response = self._client.query(**request)
            yield from (order_from_item(item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def orders_table(settings: OrdersSettings) -> OrdersTable:
    """The table of these settings, through a client made once per process (at import)."""
    return OrdersTable(boto3.client("dynamodb", region_name=settings.aws_region), settings.table_name)
