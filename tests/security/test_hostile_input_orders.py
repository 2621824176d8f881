"""Hostile requests to the orders API, through the gateway as a client sends them, by a caller who
has a profile copy (so a request that got through would be queued): each gets exactly its 4xx with
a JSON error, never a 5xx, and nothing is queued, recorded or remembered under its
``Idempotency-Key``. Money is a decimal string, never a float; the order has no free-text field, so
odd Unicode is refused wherever it goes.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import boto3
import pytest

from devtools.template import Stacks
from tests.reliability.orders_support import create_profiles, orders_of
from tests.security.test_hostile_input import (
    MIB,
    Hostile,
    _json,
    _multipart,
    _with,
    _with_raw,
    assert_json_client_error,
)

LINE = {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}
ORDER = {"items": [LINE], "currency": "EUR", "payment_token": "tok_ok"}
ORDER_ID = "01M8E7QTMN6G2A81WTST8DF7MV"  # a well-formed ULID that names no order


def _line(**changes: object):
    return _with(items=[{**LINE, **changes}])


def _raw_line(field: str, raw: bytes):
    """The order with ``field`` of its line set to ``raw``, bytes ``json.dumps`` would never write."""
    return lambda valid: _with_raw("items", b"[" + _with_raw(field, raw)(LINE) + b"]")(valid)


HOSTILE = {
    # Not JSON, or too much of it: 400.
    "truncated JSON": Hostile(lambda valid: _json(valid)[:-5], 400),
    "a byte-order mark": Hostile(lambda valid: b"\xef\xbb\xbf" + _json(valid), 400),
    "NaN as the price": Hostile(_raw_line("unit_price", b"NaN"), 400),
    "Infinity as the quantity": Hostile(_raw_line("quantity", b"Infinity"), 400),
    "a 5000-digit quantity": Hostile(_raw_line("quantity", b"9" * 5000), 400),
    "items nested 5000 arrays deep": Hostile(_with_raw("items", b"[" * 5000 + b"1" + b"]" * 5000), 400),
    "a line nested 2000 objects deep": Hostile(_raw_line("sku", b'{"a": ' * 2000 + b"1" + b"}" * 2000), 400),
    "invalid UTF-8 in the sku": Hostile(_raw_line("sku", b'"\xff\xfe"'), 400),
    "1 MiB of JSON": Hostile(_with(payment_token="tok_" + "x" * MIB), 400),
    "1 MiB of lines": Hostile(_with(items=[LINE] * (MIB // len(json.dumps(LINE)))), 400),
    "1 MiB of binary": Hostile(
        lambda valid: bytes(range(256)) * (MIB // 256), 400, "application/octet-stream"
    ),
    # Not declared JSON: 415.
    "JSON sent as text/plain": Hostile(_json, 415, "text/plain"),
    "XML": Hostile(lambda valid: b"<order><currency>EUR</currency></order>", 415, "application/xml"),
    "an HTML form": Hostile(
        lambda valid: b"currency=EUR&payment_token=tok_ok", 415, "application/x-www-form-urlencoded"
    ),
    "a multipart form": Hostile(_multipart, 415, "multipart/form-data; boundary=X"),
    # Not an order: 422 naming the field.
    "an empty JSON array": Hostile(lambda valid: b"[]", 422),
    "the order wrapped in a JSON array": Hostile(lambda valid: b"[" + _json(valid) + b"]", 422),
    "JSON null": Hostile(lambda valid: b"null", 422),
    "an unknown field": Hostile(_with(discount="100%"), 422),
    # Money: a decimal string, positive, at most 999999.99, two decimals.
    "a float price": Hostile(_line(unit_price=12.5), 422),
    "a whole-number float price": Hostile(_line(unit_price=12.0), 422),
    "an integer price": Hostile(_line(unit_price=12), 422),
    "three decimals": Hostile(_line(unit_price="12.505"), 422),
    "a price of a million": Hostile(_line(unit_price="1000000.00"), 422),
    "a 30-digit price": Hostile(_line(unit_price="9" * 30), 422),
    "an exponent": Hostile(_line(unit_price="1e3"), 422),
    "a negative price": Hostile(_line(unit_price="-1.00"), 422),
    "a zero price": Hostile(_line(unit_price="0.00"), 422),
    "a decimal comma": Hostile(_line(unit_price="12,50"), 422),
    "the string NaN": Hostile(_line(unit_price="NaN"), 422),
    # Quantities: an integer 1-1000; lines: 1-50.
    "quantity 0": Hostile(_line(quantity=0), 422),
    "quantity 1001": Hostile(_line(quantity=1001), 422),
    "a negative quantity": Hostile(_line(quantity=-1), 422),
    "a quantity as a string": Hostile(_line(quantity="2"), 422),
    "a fractional quantity": Hostile(_line(quantity=1.5), 422),
    "a boolean quantity": Hostile(_line(quantity=True), 422),
    "no lines": Hostile(_with(items=[]), 422),
    "51 lines": Hostile(_with(items=[LINE] * 51), 422),
    "lines as an object": Hostile(_with(items={"0": LINE}), 422),
    # Currency: three capital letters.
    "a lower-case currency": Hostile(_with(currency="eur"), 422),
    "a currency name": Hostile(_with(currency="euro"), 422),
    "a numeric currency": Hostile(_with(currency=978), 422),
    "a Cyrillic E in the currency": Hostile(_with(currency="\u0415UR"), 422),
    # Odd Unicode where only ASCII codes go.
    "a right-to-left override in the sku": Hostile(_line(sku="\u202eKOOB"), 422),
    "NUL in the sku": Hostile(_line(sku="BOOK\u00001"), 422),
    "a zero-width space in the sku": Hostile(_line(sku="BOOK\u200b1"), 422),
    "a lone surrogate in the sku": Hostile(_raw_line("sku", b'"BOOK\\ud800"'), 422),
    "fullwidth digits in the price": Hostile(_line(unit_price="\uff11\uff12.\uff15\uff10"), 422),
    "Arabic-Indic digits in the price": Hostile(_line(unit_price="\u0661\u0662.\u0665\u0660"), 422),
    "an emoji payment token": Hostile(_with(payment_token="tok_\U0001f4b3"), 422),
    "a card number as the payment token": Hostile(_with(payment_token="4111111111111111"), 422),
}

KEY_HEADER = "Idempotency-Key"
HOSTILE_KEYS = {
    "a space": "a b",
    "129 characters": "k" * 129,
    "non-ASCII": "cl\u00e9-1",
    "a right-to-left override": "key\u202e1",
}


@pytest.fixture
def customer(aws: Stacks, plumbing) -> str:
    create_profiles(aws, plumbing, "u1")
    return "u1"


def outcome(reply) -> int | str:
    """The status of a well-formed JSON error (422s naming their fields); else what is wrong."""
    try:
        assert_json_client_error(reply, reply.status)
        assert reply.status != 422 or reply.json["detail"]
    except (AssertionError, KeyError, ValueError):
        return f"{reply.status} {reply.headers.get('content-type')}: {reply.raw[:100]!r}"
    return reply.status


def nothing_written(aws: Stacks) -> None:
    """No order queued or recorded, no Idempotency-Key remembered."""
    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    queued = sqs.get_queue_attributes(QueueUrl=aws.ref("orders", "IntakeQueue"), AttributeNames=counts)
    assert sum(int(value) for value in queued["Attributes"].values()) == 0
    assert orders_of(aws, "u1") == []
    keys = dynamodb.scan(
        TableName=aws.physical_name("orders", "OrdersTable"),
        FilterExpression="begins_with(PK, :key)",
        ExpressionAttributeValues={":key": {"S": "IDEMPOTENCY#"}},
        Select="COUNT",
    )
    assert keys["Count"] == 0


# Each test sends all its cases to one moto account (a fresh one per case would cost ~0.5 s each)
# and compares every case's answer at once, so a failure names each case that went wrong.


def test_the_valid_order_these_are_built_from_is_accepted(http, aws, customer):
    """The control: the same request unspoilt is queued, so "nothing written" below means something."""
    reply = http("POST", "/orders", body=ORDER, headers={KEY_HEADER: "checkout-1"})

    assert reply.status == 202, reply.raw
    with pytest.raises(AssertionError):
        nothing_written(aws)


def test_hostile_orders_are_json_4xx_and_write_nothing(http, aws, customer):
    answers = {
        name: outcome(
            http(
                "POST",
                "/orders",
                body=hostile.build(ORDER),
                headers={"content-type": hostile.content_type, KEY_HEADER: "checkout-1"},
            )
        )
        for name, hostile in HOSTILE.items()
    }

    assert answers == {name: hostile.status for name, hostile in HOSTILE.items()}
    nothing_written(aws)


def test_hostile_idempotency_keys_are_422_and_write_nothing(http, aws, customer):
    replies = {
        name: http("POST", "/orders", body=ORDER, headers={KEY_HEADER: key})
        for name, key in HOSTILE_KEYS.items()
    }

    assert {name: outcome(reply) for name, reply in replies.items()} == dict.fromkeys(HOSTILE_KEYS, 422)
    assert {name: [e["loc"][-1] for e in reply.json["detail"]] for name, reply in replies.items()} == {
        key: [KEY_HEADER.lower()] for key in HOSTILE_KEYS
    }
    nothing_written(aws)


FORGED_CURSOR = "eyJhZnRlciI6IlBST0ZJTEUifQ"  # {"after": "PROFILE"}: base64 JSON, but not an order's key
HOSTILE_QUERIES = {
    # query string of GET /users/u1/orders: status
    "limit=0": 422,
    "limit=101": 422,
    "limit=-1": 422,
    "limit=ten": 422,
    "limit=1.5": 422,
    "limit=": 422,
    "limit=1e3": 422,
    f"limit={'9' * 5000}": 422,
    "cursor=": 422,
    "cursor=%25%25%25": 400,
    f"cursor={FORGED_CURSOR}": 400,
    "cursor=bm90IGpzb24": 400,  # "not json"
    "cursor=WzFd": 400,  # [1]
    "cursor=eyJhZnRlciI6IDF9": 400,  # {"after": 1}
    "cursor=" + quote("\u00fc\u202e"): 400,
    f"cursor={'A' * 201}": 422,
}


def test_hostile_page_requests_are_json_4xx(http, customer):
    answers = {query[:40]: outcome(http("GET", f"/users/u1/orders?{query}")) for query in HOSTILE_QUERIES}

    assert answers == {query[:40]: status for query, status in HOSTILE_QUERIES.items()}


HOSTILE_PATHS = {
    "a lower-case order id": ("GET", f"/orders/{ORDER_ID.lower()}"),
    "an order id of 27 characters": ("GET", f"/orders/{ORDER_ID}Z"),
    "an order id with NUL": ("GET", f"/orders/{ORDER_ID[:-1]}%00"),
    "an order id in fullwidth digits": ("GET", "/orders/" + quote("\uff10" * 26)),
    "a traversal as the order id": ("POST", "/orders/..%2F..%2Fusers/cancel"),
    "a cancel of a malformed id": ("POST", f"/orders/{ORDER_ID[:-1]}!/cancel"),
    "NUL as the user id": ("GET", "/users/%00/orders"),
    "a user id of 129 characters": ("GET", f"/users/{'u' * 129}/orders"),
}


def test_hostile_paths_are_422_and_write_nothing(http, aws, customer):
    answers = {name: outcome(http(method, path)) for name, (method, path) in HOSTILE_PATHS.items()}

    assert answers == dict.fromkeys(HOSTILE_PATHS, 422)
    nothing_written(aws)
