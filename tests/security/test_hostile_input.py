"""Hostile bodies against the users API, through the gateway as a client sends them: each gets a
4xx with a JSON error (never a 5xx), and nothing is written. Odd but legitimate Unicode is stored
and returned exactly as sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from devtools.emulator.jwt_local import token_for
from devtools.template import Stacks
from devtools.testkit.fixtures import item_reader, read_outbox

MIB = 1 << 20
PROFILE = {"email": "ann@example.com", "name": "Ann"}


@dataclass(frozen=True)
class Hostile:
    """A bad request body, built around the valid fields of the route it is sent to, and the
    status it gets: 400 not JSON (or too large), 415 not declared JSON, 422 not a valid object."""

    build: Callable[[dict], bytes]
    status: int
    content_type: str = "application/json"


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _with(**changes: object) -> Callable[[dict], bytes]:
    return lambda valid: _json({**valid, **changes})


def _with_raw(field: str, raw: bytes) -> Callable[[dict], bytes]:
    """``field`` set to ``raw``, bytes that ``json.dumps`` would never write."""
    return lambda valid: (
        _json({k: v for k, v in valid.items() if k != field})[:-1] + f', "{field}": '.encode() + raw + b"}"
    )


def _multipart(valid: dict) -> bytes:
    parts = [f'--X\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in valid.items()]
    return ("".join(parts) + "--X--\r\n").encode()


HOSTILE = {
    "truncated JSON": Hostile(lambda valid: _json(valid)[:-5], 400),
    "an empty JSON array": Hostile(lambda valid: b"[]", 422),
    # Powertools alone would validate the first element of a list given for a model.
    "the fields wrapped in a JSON array": Hostile(lambda valid: b"[" + _json(valid) + b', {"x": 1}]', 422),
    "JSON null": Hostile(lambda valid: b"null", 422),
    "a JSON string": Hostile(lambda valid: _json(json.dumps(valid)), 422),
    "a byte-order mark": Hostile(lambda valid: b"\xef\xbb\xbf" + _json(valid), 400),
    "1 MiB of JSON": Hostile(_with(name="n" * MIB), 400),
    "1 MiB of binary": Hostile(
        lambda valid: bytes(range(256)) * (MIB // 256), 400, "application/octet-stream"
    ),
    "NUL in the name": Hostile(_with(name="A\u0000B"), 422),
    "a line break in the name": Hostile(_with(name="Ann\nAdmin: yes"), 422),
    "a right-to-left override in the name": Hostile(_with(name="\u202egnp.exe"), 422),
    "a lone surrogate in the name": Hostile(_with_raw("name", b'"A\\ud800B"'), 422),
    "a lone surrogate in the e-mail": Hostile(_with_raw("email", b'"a\\udfff@example.com"'), 422),
    "NUL in the e-mail": Hostile(_with(email="ann\u0000@example.com"), 422),
    "NaN": Hostile(_with_raw("name", b"NaN"), 400),
    "nested 5000 arrays deep": Hostile(_with_raw("name", b"[" * 5000 + b"1" + b"]" * 5000), 400),
    "nested 2000 objects deep": Hostile(_with_raw("name", b'{"a": ' * 2000 + b"1" + b"}" * 2000), 400),
    "a 5000-digit number": Hostile(_with_raw("name", b"9" * 5000), 400),
    "invalid UTF-8": Hostile(_with_raw("name", b'"\xff\xfe"'), 400),
    "JSON sent as text/plain": Hostile(_json, 415, "text/plain"),
    "XML": Hostile(lambda valid: b"<user><name>Ann</name></user>", 415, "application/xml"),
    "an HTML form": Hostile(
        lambda valid: urlencode(valid).encode(), 415, "application/x-www-form-urlencoded"
    ),
    "a multipart form": Hostile(_multipart, 415, "multipart/form-data; boundary=X"),
}


CASES = [pytest.param(hostile, id=name) for name, hostile in HOSTILE.items()]


def stored(aws: Stacks, pk: str, sk: str) -> dict | None:
    return item_reader(aws, "users", "UsersTable")(pk, sk)


def outbox_size(aws: Stacks) -> int:
    return len(read_outbox(aws, "users"))


def assert_json_client_error(reply, status: int) -> None:
    assert reply.status == status, reply.raw[:300]
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json["statusCode"] == reply.status
    assert reply.json["message"]
    assert reply.headers["x-correlation-id"]


@pytest.mark.parametrize("hostile", CASES)
def test_a_hostile_create_is_a_json_4xx_and_writes_nothing(http, aws, hostile):
    body = hostile.build({"email": "ann@example.com", "name": "Ann"})

    reply = http("POST", "/users", body=body, headers={"content-type": hostile.content_type})

    assert_json_client_error(reply, hostile.status)
    assert stored(aws, "USER#u1", "PROFILE") is None
    assert outbox_size(aws) == 0


@pytest.mark.parametrize("hostile", CASES)
def test_a_hostile_patch_is_a_json_4xx_and_changes_nothing(http, aws, hostile):
    assert http("POST", "/users", body=PROFILE).status == 201
    body = hostile.build({"email": "anne@example.com", "name": "Anne", "version": 1})

    reply = http("PATCH", "/users/u1", body=body, headers={"content-type": hostile.content_type})

    assert_json_client_error(reply, hostile.status)
    assert stored(aws, "USER#u1", "PROFILE")["version"] == {"N": "1"}
    assert outbox_size(aws) == 1


ODD_BUT_FINE_NAMES = {
    "emoji with joiners": "Ann \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "right-to-left with a direction mark": "\u200f\u05e9\u05dc\u05d5\u05dd",
    "combining accents": "Zoe\u0308 Ame\u0301lie",
    "astral plane": "\U0001d4d0\U0001d4f7\U0001d4f7",
    "quotes and markup": "<script>alert('x')</script> \"Ann\"",
}


@pytest.mark.parametrize("name", ODD_BUT_FINE_NAMES.values(), ids=ODD_BUT_FINE_NAMES.keys())
def test_odd_but_legitimate_unicode_round_trips_exactly(http, aws, name):
    created = http("POST", "/users", body=json.dumps({**PROFILE, "name": name}, ensure_ascii=False))

    assert created.status == 201, created.raw
    assert created.json["name"] == name
    assert http("GET", "/users/u1").json["name"] == name
    assert stored(aws, "USER#u1", "PROFILE")["name"] == {"S": name}


def test_a_hostile_correlation_id_is_replaced_not_echoed(http):
    for hostile in ("x" * 1000, "evil\r\nSet-Cookie: a=b", "trailing\n", "<script>", ""):
        reply = http("GET", "/users/u1", headers={"x-correlation-id": hostile})
        assert reply.status == 404
        assert reply.headers["x-correlation-id"] != hostile
        assert reply.headers["x-correlation-id"].isalnum()


HOSTILE_USER_IDS = ("%00", "u1%00", "..%2Fu1", "u1%23PROFILE", "u" * 5000)


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "Changed", "version": 1}), ("DELETE", None)],
)
def test_a_hostile_user_id_is_a_422_even_for_an_admin(http, aws, signing_key, method, body):
    """Not a user id (a '#' would reach into another key; 5000 bytes exceed DynamoDB's key size):
    refused before the handler runs, whoever asks."""
    admin = token_for(aws, signing_key, "ops-1", groups=("admin",))
    for user_id in HOSTILE_USER_IDS:
        assert_json_client_error(http(method, f"/users/{user_id}", body=body, token=admin), 422)
    assert outbox_size(aws) == 0


@pytest.mark.parametrize("subject", ["u#1", "u" * 129, "ann smith"])
def test_a_token_whose_subject_is_not_a_user_id_is_403_and_writes_nothing(http, aws, subject):
    reply = http("POST", "/users", body=PROFILE, user=subject)

    assert_json_client_error(reply, 403)
    assert outbox_size(aws) == 0


@pytest.mark.parametrize("version", ["1" + "0" * 50, "1e300", str(2**53)])
def test_a_version_dynamodb_could_not_compare_is_a_422(http, aws, version):
    """Beyond 38 digits or 1E+125 DynamoDB refuses the number itself (moto does not): refused here."""
    assert http("POST", "/users", body=PROFILE).status == 201

    reply = http("PATCH", "/users/u1", body='{"name": "Changed", "version": ' + version + "}")

    assert_json_client_error(reply, 422)
    assert reply.json["detail"][0]["loc"][-1] == "version"
    assert stored(aws, "USER#u1", "PROFILE")["name"] == {"S": "Ann"}
