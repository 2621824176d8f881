"""One customer's journey across every service on moto, through the real handlers only: the HTTP
API, the outbox streams, the bus and its rules, the queues, the fulfilment state machine and SES.

Nothing here calls a service's internals: requests are API Gateway v2 events to each service's
router Lambda, and everything after them is what ``devtools.emulator.plumbing`` delivers as AWS would.
"""

from __future__ import annotations

from functools import partial

import pytest

from devtools.testkit.http import api_routes, http_request


@pytest.fixture
def api(plumbing, verified_senders):
    """``api("orders", "GET", "/users/u1/orders")`` → (status, decoded body), through the function
    the plumbing delivers to, so a request and the deliveries it causes share one environment."""

    def call(service: str, method: str, path: str, **request):
        invoke = partial(plumbing.invoke, f"shop-{service}-dev-api")
        result = http_request(invoke, api_routes(plumbing.stacks, service), method, path, **request)
        return result.status, result.body

    return call


def test_sign_up_order_and_leave(api, plumbing, bus_recorder, mailbox):
    assert api("users", "POST", "/users", body={"email": "Ann@Example.com", "name": "Ann"})[0] == 201
    plumbing.drain()

    # The orders service now holds a copy of the profile: ordering needs no call to users.
    status, placed = api(
        "orders",
        "POST",
        "/orders",
        body={
            "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
            "currency": "EUR",
            "payment_token": "tok_ok",
        },
        headers={"x-correlation-id": "journey-order-1", "idempotency-key": "k1"},
    )
    assert (status, placed["status"]) == (202, "PENDING")
    plumbing.drain()

    status, page = api("orders", "GET", "/users/u1/orders")
    assert status == 200
    assert page["profile"]["email"] == "ann@example.com"
    assert [(o["order_id"], o["status"]) for o in page["orders"]] == [(placed["order_id"], "CONFIRMED")]

    status, history = api("notifications", "GET", "/users/u1/notifications")
    assert status == 200
    assert [n["template"] for n in history["notifications"]] == ["order_confirmed", "welcome"]
    assert all(n["status"] == "sent" for n in history["notifications"])
    assert [email.to for email in mailbox()] == [["ann@example.com"]] * 2

    # The request's correlation id travels in every event the order caused.
    order_events = [
        e for e in bus_recorder.events() if e["detail"]["data"].get("order_id") == placed["order_id"]
    ]
    assert [e["detail-type"] for e in order_events] == ["OrderPlaced", "OrderConfirmed"]
    assert {e["detail"]["metadata"]["correlation_id"] for e in order_events} == {"journey-order-1"}

    # Leaving: the profile goes, its copies are emptied, and no e-mail is sent to a deleted user.
    assert api("users", "DELETE", "/users/u1")[0] == 204
    plumbing.drain()
    assert api("users", "GET", "/users/u1")[0] == 404
    assert api("orders", "GET", "/users/u1/orders")[1]["profile"] is None
    assert len(mailbox()) == 2
    types = [e["detail-type"] for e in bus_recorder.events()]
    assert types.count("UserCreated") == types.count("UserDeleted") == 1
    assert set(bus_recorder.event_ids().values()) == {1}  # no event published twice


ONE_BOOK = {
    "items": [{"sku": "BOOK-1", "quantity": 1, "unit_price": "12.50"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


def test_a_customer_who_left_signs_up_again_and_orders(api, plumbing, mailbox):
    assert api("users", "POST", "/users", body={"email": "ann@example.com", "name": "Ann"})[0] == 201
    plumbing.drain()
    assert api("users", "DELETE", "/users/u1")[0] == 204
    plumbing.drain()

    # The same sub signs up again: a new profile, which every copy takes over from the tombstone.
    assert api("users", "POST", "/users", body={"email": "ann@new.example", "name": "Ann"})[0] == 201
    plumbing.drain()
    status, placed = api("orders", "POST", "/orders", body=ONE_BOOK)
    assert status == 202
    plumbing.drain()

    page = api("orders", "GET", "/users/u1/orders")[1]
    assert page["profile"]["email"] == "ann@new.example"
    assert [(o["order_id"], o["status"]) for o in page["orders"]] == [(placed["order_id"], "CONFIRMED")]
    history = api("notifications", "GET", "/users/u1/notifications")[1]["notifications"]
    assert [n["template"] for n in history] == ["order_confirmed", "welcome", "welcome"]
    assert [email.to for email in mailbox()] == [
        ["ann@example.com"],
        ["ann@new.example"],
        ["ann@new.example"],
    ]


def test_an_order_accepted_just_before_its_user_left_ends_cancelled(api, plumbing, bus_recorder):
    assert api("users", "POST", "/users", body={"email": "ann@example.com", "name": "Ann"})[0] == 201
    plumbing.drain()
    status, placed = api("orders", "POST", "/orders", body=ONE_BOOK)
    assert status == 202
    # The user leaves while the order waits in the intake queue; the deletion reaches orders first.
    every_mapping = plumbing.mappings
    plumbing.mappings = [m for m in every_mapping if m.function.short_name != "process-intake"]
    assert api("users", "DELETE", "/users/u1")[0] == 204
    plumbing.drain()
    plumbing.mappings = every_mapping
    plumbing.drain()

    order = api("orders", "GET", f"/orders/{placed['order_id']}")[1]
    assert order["status"] == "CANCELLED"
    assert order["history"][-1]["reason"] == "User deleted"
    cancelled = [e for e in bus_recorder.events() if e["detail-type"] == "OrderCancelled"]
    assert [e["detail"]["data"]["order_id"] for e in cancelled] == [placed["order_id"]]
