"""Local tokens are checked as the HTTP API JWT authorizer checks them."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest

from devtools.emulator.jwt_local import (
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


def _signed(key: SigningKey, claims: dict, algorithm: str = "RS256") -> str:
    """Claims signed as they are (PyJWT's ``encode`` refuses some of these types)."""
    now = int(time.time())
    return jwt.api_jws.encode(
        json.dumps({"sub": "u1", "iss": ISSUER, "iat": now, "exp": now + 60} | claims).encode(),
        key.private_key,
        algorithm=algorithm,
        headers={"kid": key.key_id},
    )


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_every_rsa_algorithm_api_gateway_documents_is_accepted(key: SigningKey, algorithm: str) -> None:
    assert validate(_signed(key, {"aud": "client-a"}, algorithm), key, AUTHORIZER)["sub"] == "u1"


HOSTILE_CLAIMS = {
    "aud an object": {"aud": {"client-a": True}},
    "aud a list of lists": {"aud": [["client-a"], "other"]},
    "aud a number": {"aud": 7},
    "aud null": {"aud": None},
    "aud not Latin-1": {"aud": "клиент-😀"},
    "client_id an object": {"client_id": {"id": "client-a"}},
    "client_id a list": {"client_id": [["client-a"]]},
    "exp infinite": {"aud": "client-a", "exp": float("inf")},
    "exp a string": {"aud": "client-a", "exp": "tomorrow"},
    "nbf a list": {"aud": "client-a", "nbf": [1]},
    "iat an object": {"aud": "client-a", "iat": {"at": 1}},
    "iss a list": {"aud": "client-a", "iss": [ISSUER]},
    "iss not Latin-1": {"aud": "client-a", "iss": "émetteur-名"},
}


@pytest.mark.parametrize("claims", HOSTILE_CLAIMS.values(), ids=HOSTILE_CLAIMS.keys())
def test_claims_of_any_type_or_character_are_refused_never_raised_on(key: SigningKey, claims: dict) -> None:
    with pytest.raises(InvalidToken):
        validate(_signed(key, claims), key, AUTHORIZER)


def test_a_list_audience_passes_when_one_of_its_strings_is_configured(key: SigningKey) -> None:
    token = _signed(key, {"aud": [{"x": 1}, ["client-a"], "client-b"]})

    assert validate(token, key, AUTHORIZER)["sub"] == "u1"
