"""Fixtures of the orders tests: the API called as API Gateway calls it, user events sent on the
shared bus, the orders table and its outbox, and a tap on what the orders service publishes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import boto3
import pytest

from devtools.emulator.plumbing import Plumbing
from devtools.template import Stacks
from devtools.testkit.eventbridge import publish
from devtools.testkit.fixtures import BusRecorder, item_reader, read_outbox
from devtools.testkit.http import HttpResult
from devtools.testkit.records import received_records
from shared.events.envelope import Envelope
from shared.events.users import UserCreated, UserDeleted, UserUpdated

ORDER = {
    "items": [
        {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"},
        {"sku": "PEN-7", "quantity": 1, "unit_price": "3.99"},
    ],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


@pytest.fixture
def call_api(call_http: Callable[..., HttpResult]) -> Callable[..., HttpResult]:
    """``call_api("GET", "/orders/01J...", user="u1")`` through the real handler; the route key and
    path parameters are the ones API Gateway would pick from the packaged template."""
    return partial(call_http, "orders")


@pytest.fixture
def place(call_api) -> Callable[..., str]:
    """Place an order (202 expected) and return its id."""

    def place_order(user: str = "u1", **changes: Any) -> str:
        placed = call_api("POST", "/orders", body={**ORDER, **changes}, user=user)
        assert placed.status == 202, placed.body
        return placed.body["order_id"]

    return place_order


@pytest.fixture
def publish_user_event(aws: Stacks) -> Callable[..., Envelope]:
    """Publish a users-service event on the shared bus, as the users service's outbox does: the
    events after a ``created`` carry its time as their profile's life (``life=`` sets another)."""
    lives: dict[str, datetime] = {}  # each user's profile's creation time, as the users service keeps it

    def publish_event(kind: str, user_id: str, version: int = 1, **fields: Any) -> Envelope:
        now = datetime.now(UTC)
        if kind == "created":
            lives[user_id] = now
        life = fields.pop("life", lives.get(user_id, now))
        profile = {"email": f"{user_id}@example.com", "name": user_id.upper()} | fields
        data = {
            "created": lambda: UserCreated(user_id=user_id, version=version, created_at=now, **profile),
            "updated": lambda: UserUpdated(
                user_id=user_id,
                version=version,
                changed_fields=["name"],
                updated_at=now,
                created_at=life,
                **profile,
            ),
            "deleted": lambda: UserDeleted(user_id=user_id, deleted_at=now, created_at=life),
        }[kind]()
        envelope = Envelope.wrap(data, correlation_id=f"corr-{kind}-{user_id}")
        publish(aws, envelope)
        return envelope

    return publish_event


@pytest.fixture
def profile(publish_user_event, plumbing: Plumbing) -> Callable[[str], None]:
    """Give a user a profile copy the way production does: UserCreated on the bus → rule → queue
    → sync-profiles."""

    def create(user_id: str) -> None:
        publish_user_event("created", user_id)
        plumbing.deliver_queues()

    return create


@pytest.fixture
def table(aws: Stacks) -> Callable[[str, str], dict[str, Any] | None]:
    """``table("USER#u1", "PROFILE")`` → the stored item (low-level shape) or None."""
    return item_reader(aws, "orders", "OrdersTable")


@pytest.fixture
def intake_messages(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """Receive (and leave in flight) what waits in the intake queue: the raw SQS messages."""
    sqs = boto3.client("sqs")
    queue_url = aws.ref("orders", "IntakeQueue")

    def receive() -> list[dict[str, Any]]:
        found = []
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages"):
            found += messages
        return found

    return receive


@pytest.fixture
def sqs_records(aws: Stacks) -> Callable[[str], list[dict[str, Any]]]:
    """``sqs_records("IntakeQueue")``: receive what waits in one of the service's queues, as the
    records Lambda's event source mapping hands to the function (the messages stay in flight)."""
    return lambda queue: received_records(aws.ref("orders", queue), aws.arn("orders", queue), aws.region)


@pytest.fixture
def outbox(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """The events written to the orders outbox, oldest first."""
    return lambda: read_outbox(aws, "orders")


@pytest.fixture
def bus_events(bus_recorder: BusRecorder) -> Callable[[], list[dict[str, Any]]]:
    """What ``shop.orders`` published on the shared bus since the last call."""
    return lambda: bus_recorder.new("shop.orders")


@pytest.fixture
def plumbing(plumbing: Plumbing) -> Plumbing:
    """The shared plumbing, delivering to the orders consumers only (the other services' consumers
    of the same events have their own tests), with the orders handlers loaded up front: state
    machine tasks run on moto's execution threads, which should not be the first to import one."""
    plumbing.mappings = [m for m in plumbing.mappings if m.function.service == "orders"]
    for name, spec in plumbing.specs.items():
        if spec.service == "orders":
            plumbing.handler(name)
    return plumbing


@pytest.fixture
def hold_back_fulfilment(plumbing: Plumbing) -> Callable[[], None]:
    """Leave new orders PENDING: from the call on, start-fulfilment gets no stream records."""

    def hold() -> None:
        plumbing.mappings = [m for m in plumbing.mappings if m.function.short_name != "start-fulfilment"]

    return hold


@pytest.fixture
def order_request() -> dict[str, Any]:
    """A valid POST /orders body (a fresh copy)."""
    return json.loads(json.dumps(ORDER))
