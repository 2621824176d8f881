"""Fixtures of the notifications tests: the events it consumes, delivered as SQS records the way a
rule → queue → Lambda chain delivers them, and what the service leaves behind (mail, items, DLQ)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devtools.emulator.lambda_runtime import FunctionSpec
from devtools.template import Stacks
from devtools.testkit.eventbridge import eventbridge_event
from devtools.testkit.fixtures import item_reader
from devtools.testkit.http import HttpResult
from devtools.testkit.records import DeadLetter, sqs_record
from devtools.testkit.records import dead_letters as dead_letters_in
from shared.events.envelope import Envelope, new_id
from shared.events.orders import OrderCancelled, OrderConfirmed, OrderFailed
from shared.events.users import UserCreated, UserDeleted, UserUpdated

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Events:
    """Envelopes of the events this service consumes, as their producers wrap them."""

    def user_created(
        self, user_id: str = "u1", *, email: str | None = None, name: str = "Ann", at: datetime = T0
    ) -> Envelope:
        event = UserCreated(
            user_id=user_id, email=email or f"{user_id}@example.com", name=name, version=1, created_at=at
        )
        return self._wrap(event)

    def user_updated(
        self,
        user_id: str = "u1",
        *,
        email: str,
        name: str = "Ann",
        version: int = 2,
        at: datetime = T0,
        life: datetime = T0,
    ) -> Envelope:
        event = UserUpdated(
            user_id=user_id,
            email=email,
            name=name,
            version=version,
            changed_fields=["email"],
            updated_at=at,
            created_at=life,
        )
        return self._wrap(event)

    def user_deleted(
        self, user_id: str = "u1", *, at: datetime = T0 + timedelta(days=1), life: datetime = T0
    ) -> Envelope:
        return self._wrap(UserDeleted(user_id=user_id, deleted_at=at, created_at=life))

    def order_confirmed(self, user_id: str = "u1", order_id: str = "o1") -> Envelope:
        event = OrderConfirmed(
            order_id=order_id,
            user_id=user_id,
            currency="EUR",
            total=Decimal("42.50"),
            invoice_number=f"INV-{order_id}",
        )
        return self._wrap(event)

    def order_failed(self, user_id: str = "u1", order_id: str = "o1") -> Envelope:
        return self._wrap(OrderFailed(order_id=order_id, user_id=user_id, reason="card declined"))

    def order_cancelled(self, user_id: str = "u1", order_id: str = "o1") -> Envelope:
        return self._wrap(OrderCancelled(order_id=order_id, user_id=user_id, reason="requested by customer"))

    @staticmethod
    def _wrap(event: Any) -> Envelope:
        return Envelope.wrap(event, correlation_id=f"corr-{new_id()}")


@pytest.fixture
def events() -> Events:
    return Events()


def as_body(envelope: Envelope) -> str:
    """The message body a rule puts in the queue: the event as EventBridge delivers it."""
    return json.dumps(eventbridge_event(envelope))


@pytest.fixture
def sqs_batch() -> Callable[..., dict[str, Any]]:
    """``sqs_batch(envelope, "raw body", ...)`` → the SQS event of one Lambda invocation."""

    def batch(*messages: Envelope | str) -> dict[str, Any]:
        bodies = [m if isinstance(m, str) else as_body(m) for m in messages]
        return {"Records": [sqs_record(body) for body in bodies]}

    return batch


@pytest.fixture
def deliver_spec(function_specs: dict[str, FunctionSpec]) -> FunctionSpec:
    return function_specs["shop-notifications-dev-deliver"]


@pytest.fixture
def ses(verified_senders: None) -> Any:
    """The SES (v2) endpoint, with the deliver function's sender verified, as deploying requires."""
    return boto3.client("sesv2")


@pytest.fixture
def deliver(ses: Any, lambda_function: Callable) -> Callable[[dict], dict]:
    return lambda_function("notifications", "deliver")


@pytest.fixture
def table(aws: Stacks) -> Callable[..., Any]:
    """``table.get(pk, sk)`` → the stored item (low-level shape); ``table.items(pk)`` → a partition."""
    dynamodb = boto3.client("dynamodb")
    name = aws.physical_name("notifications", "NotificationsTable")

    class Table:
        get = staticmethod(item_reader(aws, "notifications", "NotificationsTable"))

        def items(self, pk: str, prefix: str = "") -> list[dict[str, Any]]:
            return dynamodb.query(
                TableName=name,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            )["Items"]

        def notifications(self, user_id: str) -> list[dict[str, Any]]:
            return self.items(f"USER#{user_id}", "NOTIF#")

    return Table()


@pytest.fixture
def dead_letters(aws: Stacks) -> Callable[[], list[DeadLetter]]:
    """Receives (and deletes) whatever waits in the dead-letter queue."""
    return lambda: dead_letters_in(aws.ref("notifications", "EventsDLQ"))


@pytest.fixture
def list_notifications(call_http: Callable[..., HttpResult]) -> Callable[..., tuple[int, Any]]:
    """``list_notifications("u1", query="limit=2", caller="u1")`` → (status, decoded body)."""

    def call(user_id: str, *, query: str = "", caller: str | None = None, admin: bool = False):
        path = f"/users/{user_id}/notifications"
        result = call_http("notifications", "GET", path, query=query, user=caller or user_id, admin=admin)
        return result.status, result.body

    return call
