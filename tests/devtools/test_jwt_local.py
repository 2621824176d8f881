"""Local tokens are checked as the HTTP API JWT authorizer checks them."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import jwt
import pytest

from devtools.jwt_local import (
    InvalidToken,
    JwtAuthorizer,
    SigningKey,
    authorizer_claims,
    authorizers,
    mint,
    token_for,
    validate,
)
from devtools.template import Stacks, Template

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/pool"
AUTHORIZER = JwtAuthorizer(issuer=ISSUER, audiences=("client-a", "client-b"), identity_header="authorization")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("key"))


def _stacks(*authorizer_properties: dict) -> Stacks:
    stacks = Stacks(services=())
    resources = {
        f"Authorizer{i}": {"Type": "AWS::ApiGatewayV2::Authorizer", "Properties": props}
        for i, props in enumerate(authorizer_properties)
    }
    stacks.templates = {"svc": Template("svc", {"Resources": resources})}
    return stacks


def test_the_key_is_created_private_once_and_then_reused(tmp_path: Path) -> None:
    first = SigningKey.load_or_create(tmp_path)
    second = SigningKey.load_or_create(tmp_path)

    assert first.key_id == second.key_id
    mode = (tmp_path / "jwt-signing-key.pem").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_a_minted_token_passes_and_keeps_its_claims(key: SigningKey) -> None:
    token = mint(key, "u1", issuer=ISSUER, audience="client-b", groups=("admin", "ops"))

    claims = validate(token, key, AUTHORIZER)

    assert claims["sub"] == "u1"
    assert claims["cognito:groups"] == ["admin", "ops"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": time.time() - 10}, "expired"),
        ({"nbf": time.time() + 600}, "not yet valid"),
        ({"iat": time.time() + 600}, "not yet valid"),
        ({"iss": "https://someone-else"}, "issuer"),
        ({"aud": "client-c"}, "audience"),
    ],
)
def test_claims_api_gateway_would_refuse_are_refused(key: SigningKey, change: dict, reason: str) -> None:
    now = int(time.time())
    claims = {"sub": "u1", "iss": ISSUER, "aud": "client-a", "iat": now, "exp": now + 60} | change
    token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.key_id})

    with pytest.raises(InvalidToken, match=f"(?i){reason}"):
        validate(token, key, AUTHORIZER)


def test_a_token_without_expiry_is_refused(key: SigningKey) -> None:
    token = jwt.encode(
        {"sub": "u1", "iss": ISSUER, "aud": "client-a"}, key.private_key, "RS256", headers={"kid": key.key_id}
    )

    with pytest.raises(InvalidToken, match="exp"):
        validate(token, key, AUTHORIZER)


def test_client_id_stands_for_a_missing_audience_as_in_access_tokens(key: SigningKey) -> None:
    now = int(time.time())
    claims = {"sub": "u1", "iss": ISSUER, "client_id": "client-a", "exp": now + 60, "token_use": "access"}
    token = jwt.encode(claims, key.private_key, "RS256", headers={"kid": key.key_id})

    assert validate(token, key, AUTHORIZER)["client_id"] == "client-a"


def test_unsigned_and_hmac_tokens_are_refused(key: SigningKey) -> None:
    claims = {"sub": "u1", "iss": ISSUER, "aud": "client-a", "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": key.key_id})
    hmac = jwt.encode(
        claims, "a shared secret of 32 bytes or more", algorithm="HS256", headers={"kid": key.key_id}
    )

    for token in (unsigned, hmac):
        with pytest.raises(InvalidToken, match="algorithm"):
            validate(token, key, AUTHORIZER)


def test_a_token_from_another_key_is_refused(key: SigningKey, tmp_path: Path) -> None:
    token = mint(SigningKey.load_or_create(tmp_path), "u1", issuer=ISSUER, audience="client-a")

    with pytest.raises(InvalidToken, match="kid"):
        validate(token, key, AUTHORIZER)


def test_claims_reach_lambda_as_strings_with_arrays_in_brackets() -> None:
    flattened = authorizer_claims(
        {"sub": "u1", "exp": 1700000000, "cognito:groups": ["admin", "ops"], "ok": True}
    )

    assert flattened == {"sub": "u1", "exp": "1700000000", "cognito:groups": "[admin ops]", "ok": "true"}


def test_authorizers_come_from_the_templates_with_their_identity_source() -> None:
    stacks = _stacks(
        {
            "AuthorizerType": "JWT",
            "IdentitySource": ["$request.header.X-Token"],
            "JwtConfiguration": {"Issuer": {"Fn::Sub": "https://issuer/${AWS::Region}"}, "Audience": ["aud"]},
        },
        {"AuthorizerType": "REQUEST", "AuthorizerUri": "arn"},
    )

    assert authorizers(stacks) == {
        ("svc", "Authorizer0"): JwtAuthorizer("https://issuer/us-east-1", ("aud",), "x-token")
    }


def test_make_token_mints_for_the_issuer_and_every_audience_of_the_templates(key: SigningKey) -> None:
    config = {"Issuer": ISSUER, "Audience": ["client-a"]}
    stacks = _stacks(
        {"AuthorizerType": "JWT", "JwtConfiguration": config},
        {"AuthorizerType": "JWT", "JwtConfiguration": config | {"Audience": ["client-b"]}},
    )

    token = token_for(stacks, key, "u1", ("admin",))

    for authorizer in authorizers(stacks).values():
        assert validate(token, key, authorizer)["cognito:groups"] == ["admin"]
