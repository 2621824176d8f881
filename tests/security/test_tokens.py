"""Tokens at the local gateway, on every route of every packaged template: each kind of bad token
gets API Gateway's 401 and never reaches a function. With a valid token, a user reaches only their
own resources (403 otherwise) unless they are in the ``admin`` group.

The gateway checks tokens the way the HTTP API JWT authorizer does (``devtools.emulator.jwt_local``, whose
own tests cover each rule); this runs every rule against every route that deploys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from devtools.emulator.apigw import Route, routes
from devtools.emulator.jwt_local import JwtAuthorizer, SigningKey, authorizers, mint
from devtools.local.gateway import Gateway
from devtools.template import Stacks


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_the_public_key(key: SigningKey, claims: dict) -> str:
    """The algorithm-confusion attack: HMAC-signed with the RSA public key, which anyone can have."""
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.key_id}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered(token: str) -> str:
    """A valid token whose payload now says ``sub: admin``, signature unchanged."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(json.dumps(claims | {'sub': 'admin'}).encode())}.{signature}"


BadToken = Callable[[SigningKey, SigningKey, JwtAuthorizer], str | None]  # (key, other key, authorizer)


def _valid(key: SigningKey, authorizer: JwtAuthorizer, **options) -> str:
    return mint(key, "u1", issuer=authorizer.issuer, audience=authorizer.audiences[0], **options)


BAD_TOKENS: dict[str, BadToken] = {
    "no token": lambda key, other, a: None,
    "not a JWT": lambda key, other, a: "not.a.jwt",
    "expired": lambda key, other, a: _valid(key, a, now=time.time() - 7200, lifetime=3600),
    "not yet valid": lambda key, other, a: jwt.encode(
        {
            "sub": "u1",
            "iss": a.issuer,
            "aud": a.audiences[0],
            "exp": time.time() + 7200,
            "nbf": time.time() + 3600,
        },
        key.private_key,
        algorithm="RS256",
        headers={"kid": key.key_id},
    ),
    "wrong issuer": lambda key, other, a: mint(
        key, "u1", issuer="https://evil.example", audience=a.audiences[0]
    ),
    "wrong audience": lambda key, other, a: mint(key, "u1", issuer=a.issuer, audience="someone-elses-app"),
    "signed by another key": lambda key, other, a: _valid(other, a),
    "tampered payload": lambda key, other, a: _tampered(_valid(key, a)),
    "alg none": lambda key, other, a: jwt.encode(
        {"sub": "u1", "iss": a.issuer, "aud": a.audiences[0], "exp": time.time() + 3600},
        None,
        algorithm="none",
        headers={"kid": key.key_id},
    ),
    "HS256 with the public key": lambda key, other, a: _hs256_with_the_public_key(
        key, {"sub": "u1", "iss": a.issuer, "aud": a.audiences[0], "exp": time.time() + 3600}
    ),
}


def _path(route: Route) -> str:
    return re.sub(r"\{(\w+)\+?\}", "u1", route.route_key.split(" ", 1)[1])


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("other-jwt"))


@pytest.mark.parametrize("bad_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_every_route_answers_401_to_a_bad_token_and_runs_nothing(
    stacks: Stacks, signing_key, other_key, bad_token
):
    invoked: list[str] = []
    gateway = Gateway(
        routes=routes(stacks),
        authorizers=authorizers(stacks),
        key=signing_key,
        invoke=lambda function, event: invoked.append(function),
        function_names={(route.service, route.function): route.function for route in routes(stacks)},
    )
    checked = 0
    for route in routes(stacks):
        authorizer = gateway.authorizers[(route.service, route.authorizer)]
        token = bad_token(signing_key, other_key, authorizer)
        headers = [] if token is None else [("Authorization", f"Bearer {token}")]

        reply = gateway.handle(route.method, _path(route), headers, b'{"x": 1}')

        assert (reply.status, json.loads(reply.body)) == (401, {"message": "Unauthorized"}), route.route_key
        checked += 1
    assert invoked == []
    assert checked >= 4


def test_a_token_in_the_query_string_is_not_read(http, signing_key, aws):
    token = mint(signing_key, "u1", **_users_issuer_and_audience(aws))
    reply = http("GET", f"/users/u1?access_token={token}", token=None)
    assert reply.status == 401


def _users_issuer_and_audience(stacks: Stacks) -> dict:
    authorizer = next(a for (service, _), a in authorizers(stacks).items() if service == "users")
    return {"issuer": authorizer.issuer, "audience": authorizer.audiences[0]}


@pytest.mark.parametrize(
    ("method", "body", "owner_status"),
    [("GET", None, 200), ("PATCH", {"name": "Changed", "version": 1}, 200), ("DELETE", None, 204)],
)
def test_another_users_profile_is_403_and_admin_may_act(http, signing_key, aws, method, body, owner_status):
    assert http("POST", "/users", body={"email": "ann@example.com", "name": "Ann"}, user="u1").status == 201
    admin = mint(signing_key, "ops-1", groups=("admin",), **_users_issuer_and_audience(aws))

    stranger = http(method, "/users/u1", body=body, user="u2")
    by_admin = http(method, "/users/u1", body=body, token=admin)

    assert (stranger.status, stranger.json["message"]) == (403, "You may only access your own resources")
    assert by_admin.status == owner_status
