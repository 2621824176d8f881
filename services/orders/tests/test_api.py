"""The orders HTTP API through its real handler, with API Gateway v2 events, on moto."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.domain.model import IDEMPOTENCY_WINDOW_SECONDS
from orders.schemas import PRICE_PATTERN
from shared.events.envelope import utc_now


@pytest.fixture
def recorded(place, plumbing):
    """Place orders and let the intake consumer record them (fulfilment does not start: only the
    queues are delivered, not the table's stream)."""

    def place_and_record(count: int = 1, user: str = "u1", **changes) -> list[str]:
        order_ids = [place(user, **changes) for _ in range(count)]
        plumbing.deliver_queues()
        return order_ids

    return place_and_record


@pytest.fixture
def dynamodb_calls():
    """Every DynamoDB operation the API function's client sends from now on."""
    calls: Counter[str] = Counter()
    client = sys.modules["orders.handlers.api"].dynamodb

    def count(model, **_):
        calls[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield calls
    client.meta.events.unregister("before-call.dynamodb", count)


# -- POST /orders --------------------------------------------------------------------------------


def test_placing_queues_the_order_and_answers_202(call_api, profile, order_request, intake_messages, table):
    profile("u1")

    placed = call_api("POST", "/orders", body=order_request, headers={"X-Correlation-Id": "corr-place-1"})

    assert placed.status == 202
    assert placed.body == {"order_id": placed.body["order_id"], "status": "PENDING"}
    assert placed.headers["x-correlation-id"] == "corr-place-1"
    [message] = intake_messages()
    queued = json.loads(message["Body"])
    assert queued["order_id"] == placed.body["order_id"]
    assert queued["user_id"] == "u1"
    assert queued["correlation_id"] == "corr-place-1"
    assert queued["payment_token"] == "tok_ok"
    assert queued["currency"] == "EUR"
    assert queued["items"] == [
        {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"},
        {"sku": "PEN-7", "quantity": 1, "unit_price": "3.99"},
    ]
    # Nothing is written before the intake consumer runs.
    assert table("USER#u1", "ORDER#" + placed.body["order_id"]) is None


def test_a_caller_without_a_profile_copy_gets_409_and_nothing_is_queued(
    call_api, order_request, intake_messages, profile, publish_user_event, plumbing
):
    unknown = call_api("POST", "/orders", body=order_request, user="stranger")
    assert unknown.status == 409
    assert unknown.body == {
        "statusCode": 409,
        "message": "No profile is known for this user yet: create your profile, then place the order again",
    }

    profile("gone")
    publish_user_event("deleted", "gone")
    plumbing.deliver_queues()
    assert call_api("POST", "/orders", body=order_request, user="gone").status == 409
    assert intake_messages() == []


def _with(body: dict, **changes) -> dict:
    return {**body, **changes}


def _line(**changes) -> dict:
    return {"sku": "BOOK-1", "quantity": 1, "unit_price": "1.00", **changes}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [_line()] * 51}, "items"),
        ({"items": [_line(quantity=0)]}, "quantity"),
        ({"items": [_line(quantity=1001)]}, "quantity"),
        ({"items": [_line(quantity="2")]}, "quantity"),
        ({"items": [_line(unit_price=12.5)]}, "unit_price"),  # money is never a float
        ({"items": [_line(unit_price="12.505")]}, "unit_price"),
        ({"items": [_line(unit_price="-1.00")]}, "unit_price"),
        ({"items": [_line(unit_price="0")]}, "unit_price"),
        ({"items": [_line(unit_price="0.00")]}, "unit_price"),
        ({"items": [_line(unit_price="012.50")]}, "unit_price"),  # the schema's pattern refuses it too
        ({"items": [_line(unit_price="NaN")]}, "unit_price"),
        ({"items": [_line(unit_price="1e3")]}, "unit_price"),
        ({"items": [_line(sku="")]}, "sku"),
        ({"items": [_line(colour="red")]}, "colour"),
        ({"currency": "euro"}, "currency"),
        ({"payment_token": "4111111111111111"}, "payment_token"),
        ({"coupon": "FREE"}, "coupon"),
    ],
)
def test_invalid_orders_are_422_naming_the_field(
    call_api, profile, order_request, intake_messages, change, field
):
    profile("u1")

    response = call_api("POST", "/orders", body=_with(order_request, **change))

    assert response.status == 422
    assert response.body["message"] == "Request validation failed"
    assert any(field in map(str, error["loc"]) for error in response.body["detail"]), response.body
    assert intake_messages() == []


@given(st.from_regex(PRICE_PATTERN, fullmatch=True))
def test_every_price_the_schema_allows_is_positive_at_most_999999_99_in_cents(text: str):
    price = Decimal(text)
    assert Decimal(0) < price <= Decimal("999999.99")
    assert price.as_tuple().exponent >= -2


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2))
def test_every_such_price_has_a_spelling_the_schema_allows(price: Decimal):
    assert re.fullmatch(PRICE_PATTERN, f"{price}")
    assert re.fullmatch(PRICE_PATTERN, f"{price.normalize():f}")  # "12.5", "12"


@pytest.mark.parametrize("body", ["{not json", "", "[]", "null"])
def test_malformed_bodies_are_400_or_422_never_500(call_api, profile, body):
    profile("u1")

    response = call_api("POST", "/orders", body=body)

    assert response.status in (400, 422)
    assert response.body["statusCode"] == response.status


def test_the_same_idempotency_key_returns_the_same_order_and_queues_it_once(
    call_api, profile, order_request, intake_messages
):
    profile("u1")
    profile("u2")
    key = {"Idempotency-Key": "checkout-42"}

    first = call_api("POST", "/orders", body=order_request, headers=key)
    again = call_api("POST", "/orders", body=order_request, headers=key)
    other_caller = call_api("POST", "/orders", body=order_request, headers=key, user="u2")

    assert first.status == again.status == other_caller.status == 202
    assert again.body == first.body
    assert other_caller.body["order_id"] != first.body["order_id"]  # the key is per caller
    queued = [json.loads(message["Body"])["order_id"] for message in intake_messages()]
    assert sorted(queued) == sorted([first.body["order_id"], other_caller.body["order_id"]])


def test_an_idempotency_key_reused_for_another_order_is_409(
    call_api, profile, order_request, intake_messages
):
    profile("u1")
    key = {"Idempotency-Key": "checkout-43"}
    assert call_api("POST", "/orders", body=order_request, headers=key).status == 202

    reused = call_api("POST", "/orders", body=_with(order_request, currency="USD"), headers=key)

    assert reused.status == 409
    assert reused.body["message"] == "This Idempotency-Key was already used with a different order"
    assert len(intake_messages()) == 1


def test_a_refused_order_does_not_burn_its_idempotency_key(call_api, order_request, profile, intake_messages):
    key = {"Idempotency-Key": "checkout-44"}
    assert call_api("POST", "/orders", body=order_request, headers=key).status == 409  # no profile yet
    profile("u1")

    retried = call_api("POST", "/orders", body=order_request, headers=key)

    assert retried.status == 202
    assert [json.loads(m["Body"])["order_id"] for m in intake_messages()] == [retried.body["order_id"]]


def test_past_its_window_the_key_places_a_new_order(call_api, profile, order_request, monkeypatch):
    profile("u1")
    key = {"Idempotency-Key": "checkout-46"}
    first = call_api("POST", "/orders", body=order_request, headers=key)
    a_day_later = utc_now() + timedelta(seconds=IDEMPOTENCY_WINDOW_SECONDS)  # the claim still in the table
    monkeypatch.setattr("orders.handlers.api.utc_now", lambda: a_day_later)

    later = call_api("POST", "/orders", body=_with(order_request, currency="USD"), headers=key)

    assert later.status == 202
    assert later.body["order_id"] != first.body["order_id"]


def test_a_malformed_idempotency_key_is_422(call_api, profile, order_request):
    profile("u1")

    response = call_api("POST", "/orders", body=order_request, headers={"Idempotency-Key": "a b"})

    assert response.status == 422


# -- GET /orders/{id} ----------------------------------------------------------------------------


def test_get_order_returns_the_order_with_its_history_to_its_owner_and_admins(call_api, profile, recorded):
    profile("u1")
    [order_id] = recorded()

    own = call_api("GET", f"/orders/{order_id}")

    assert own.status == 200
    assert own.body == {
        "order_id": order_id,
        "user_id": "u1",
        "status": "PENDING",
        "items": [
            {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"},
            {"sku": "PEN-7", "quantity": 1, "unit_price": "3.99"},
        ],
        "currency": "EUR",
        "total": "28.99",
        "created_at": own.body["created_at"],
        "updated_at": own.body["created_at"],
        "invoice_number": None,
        "failure_reason": None,
        "history": [{"status": "PENDING", "at": own.body["created_at"], "reason": None}],
    }
    assert "payment_token" not in json.dumps(own.body)
    assert call_api("GET", f"/orders/{order_id}", user="admin-1", admin=True).body == own.body


def test_get_order_is_403_for_another_user_404_when_absent_422_when_malformed(call_api, profile, recorded):
    profile("u1")
    [order_id] = recorded()

    other = call_api("GET", f"/orders/{order_id}", user="u2")
    missing = call_api("GET", "/orders/01J00000000000000000000000")
    malformed = call_api("GET", "/orders/not-an-order-id")

    assert (other.status, other.body["message"]) == (403, "You may only access your own resources")
    assert (missing.status, missing.body["message"]) == (404, "Order not found")
    assert malformed.status == 422


# -- POST /orders/{id}/cancel --------------------------------------------------------------------


def test_cancel_a_pending_order_publishes_order_cancelled_then_refuses_a_second_time(
    call_api, profile, recorded, outbox
):
    profile("u1")
    [order_id] = recorded()

    cancelled = call_api("POST", f"/orders/{order_id}/cancel", headers={"X-Correlation-Id": "corr-cancel-1"})

    assert cancelled.status == 200
    assert cancelled.body["status"] == "CANCELLED"
    assert [(h["status"], h["reason"]) for h in cancelled.body["history"]] == [
        ("PENDING", None),
        ("CANCELLED", "Cancelled by the customer"),
    ]
    assert call_api("GET", f"/orders/{order_id}").body == cancelled.body
    event = outbox()[-1]
    assert event["detail_type"] == "OrderCancelled"
    assert event["detail"]["data"] == {
        "order_id": order_id,
        "user_id": "u1",
        "reason": "Cancelled by the customer",
    }
    assert event["detail"]["metadata"]["correlation_id"] == "corr-cancel-1"

    again = call_api("POST", f"/orders/{order_id}/cancel")
    assert (again.status, again.body["message"]) == (409, "Order is CANCELLED and can no longer be cancelled")
    assert [e["detail_type"] for e in outbox()].count("OrderCancelled") == 1


def test_cancel_is_403_for_another_user_and_recorded_as_an_admin_action(call_api, profile, recorded):
    profile("u1")
    [order_id] = recorded()

    assert call_api("POST", f"/orders/{order_id}/cancel", user="u2").status == 403
    by_admin = call_api("POST", f"/orders/{order_id}/cancel", user="admin-1", admin=True)

    assert by_admin.status == 200
    assert by_admin.body["history"][-1]["reason"] == "Cancelled by an admin"
    assert call_api("POST", "/orders/01J00000000000000000000000/cancel").status == 404


# -- GET /users/{id}/orders ----------------------------------------------------------------------


def test_list_pages_newest_first_with_the_profile_and_one_query_per_page(
    call_api, profile, recorded, dynamodb_calls
):
    profile("u1")
    placed = recorded(5)
    dynamodb_calls.clear()

    pages = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = call_api("GET", "/users/u1/orders", query=query)
        assert page.status == 200
        pages.append(page.body)
        cursor = page.body["next_cursor"]
        if cursor is None:
            break

    assert [[o["order_id"] for o in p["orders"]] for p in pages] == [
        placed[4:2:-1],
        placed[2:0:-1],
        placed[0:1],
    ]
    assert pages[0]["profile"] == {"user_id": "u1", "email": "u1@example.com", "name": "U1"}
    assert [p["profile"] for p in pages[1:]] == [None, None]  # the profile comes with the first page
    assert dynamodb_calls == Counter({"Query": 3})


def test_list_without_orders_and_an_exact_last_page_have_no_cursor(call_api, profile, recorded):
    profile("u1")

    empty = call_api("GET", "/users/u1/orders")
    assert empty.status == 200
    assert empty.body == {
        "profile": {"user_id": "u1", "email": "u1@example.com", "name": "U1"},
        "orders": [],
        "next_cursor": None,
    }

    recorded(2)
    exact = call_api("GET", "/users/u1/orders", query="limit=2")
    assert len(exact.body["orders"]) == 2
    assert exact.body["next_cursor"] is None


def test_list_is_403_for_another_user_400_for_a_forged_cursor_422_for_a_bad_limit(call_api, profile):
    profile("u1")

    assert call_api("GET", "/users/u1/orders", user="u2").status == 403
    assert call_api("GET", "/users/u1/orders", user="admin-1", admin=True).status == 200
    forged = call_api("GET", "/users/u1/orders", query="cursor=eyJzayI6IlBST0ZJTEUifQ")  # {"sk":"PROFILE"}
    assert (forged.status, forged.body["message"]) == (400, "Invalid cursor")
    assert call_api("GET", "/users/u1/orders", query="cursor=%25%25%25").status == 400
    assert call_api("GET", "/users/u1/orders", query="limit=0").status == 422
    assert call_api("GET", "/users/u1/orders", query="limit=101").status == 422
    assert call_api("GET", "/users/u1/orders", query="limit=ten").status == 422
