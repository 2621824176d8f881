"""Tokens for the local gateway, checked the way the HTTP API JWT authorizer checks them.

Locally there is no Cognito: tokens carry exactly the issuer and audience that the packaged
templates give each ``AWS::ApiGatewayV2::Authorizer``, and are signed with an RSA key kept in
``.local-stack/`` (gitignored, created on first use). The gateway trusts that key alone, so a
token passes only if it was minted here, and then only if its claims would pass in AWS.

``python -m devtools.emulator.jwt_local <user> [--groups admin]`` (``make token``) prints one token.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.template import ROOT, Stacks, TemplateError

# API Gateway's JWT authorizers accept "RSA-based algorithms"; locally we sign with the first.
ALGORITHMS = ("RS256", "RS384", "RS512")
TOKEN_LIFETIME_SECONDS = 3600
KEY_FILE = "jwt-signing-key.pem"
DEFAULT_IDENTITY_SOURCE = "$request.header.Authorization"


class InvalidToken(Exception):
    """The request would get API Gateway's 401; the message says why (for the stack's log)."""


def state_dir() -> Path:
    """Where the local stack keeps what must not be committed (``LOCAL_STACK_DIR`` overrides)."""
    return Path(os.environ.get("LOCAL_STACK_DIR") or ROOT / ".local-stack")


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey

    @classmethod
    def load_or_create(cls, directory: Path | None = None) -> SigningKey:
        """The local key, created once; concurrent first uses agree on one key."""
        directory = directory or state_dir()
        path = directory / KEY_FILE
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with tempfile.NamedTemporaryFile(dir=directory, delete=False) as draft:
                draft.write(pem)  # NamedTemporaryFile creates it 0600
            try:
                os.link(draft.name, path)  # atomic, and fails if another process got there first
            except FileExistsError:
                pass
            finally:
                os.unlink(draft.name)
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key; delete it to get a new one")
        return cls(private_key)

    @property
    def key_id(self) -> str:
        """``kid``: a thumbprint of the public key, as a JWKS would publish it."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class JwtAuthorizer:
    """One ``AWS::ApiGatewayV2::Authorizer`` of type JWT, resolved from its template."""

    issuer: str
    audiences: tuple[str, ...]
    identity_header: str  # lower case, e.g. "authorization"


def authorizers(stacks: Stacks) -> dict[tuple[str, str], JwtAuthorizer]:
    """Every JWT authorizer, keyed by (service, logical id) as ``devtools.emulator.apigw.Route`` names it."""
    found = {}
    for service, template in stacks.templates.items():
        for logical_id, props in template.of_type("AWS::ApiGatewayV2::Authorizer"):
            if props.get("AuthorizerType") != "JWT":
                continue
            config = stacks.resolve(service, props["JwtConfiguration"])
            source = stacks.resolve(service, props.get("IdentitySource") or [DEFAULT_IDENTITY_SOURCE])[0]
            found[(service, logical_id)] = JwtAuthorizer(
                issuer=config["Issuer"],
                audiences=tuple(config.get("Audience", ())),
                identity_header=source.removeprefix("$request.header.").lower(),
            )
    return found


def mint(
    key: SigningKey,
    subject: str,
    *,
    issuer: str,
    audience: str | list[str],
    groups: tuple[str, ...] = (),
    lifetime: int = TOKEN_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """A Cognito-like ID token for ``subject``."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "token_use": "id",
        "cognito:username": subject,
        "auth_time": issued_at,
        "iat": issued_at,
        "exp": issued_at + lifetime,
    }
    if groups:
        claims["cognito:groups"] = list(groups)
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHMS[0], headers={"kid": key.key_id})


def token_for(stacks: Stacks, key: SigningKey, subject: str, groups: tuple[str, ...] = ()) -> str:
    """A token every JWT route of the local stack accepts (one issuer, every audience)."""
    found = authorizers(stacks).values()
    issuers = sorted({a.issuer for a in found}) or ["local"]
    if len(issuers) > 1:
        print(f"warning: authorizers trust different issuers {issuers}; using {issuers[0]}", file=sys.stderr)
    audiences = sorted({audience for a in found for audience in a.audiences}) or ["local"]
    audience = audiences[0] if len(audiences) == 1 else audiences
    return mint(key, subject, issuer=issuers[0], audience=audience, groups=groups)


def validate(token: str, key: SigningKey, authorizer: JwtAuthorizer) -> dict[str, Any]:
    """The token's claims if API Gateway would accept it for ``authorizer``; else ``InvalidToken``.

    Checked as AWS documents: ``kid`` and an RSA ``alg`` (never ``none`` or HMAC), the signature,
    ``exp`` (required), ``nbf`` and ``iat`` when present, ``iss``, and ``aud`` (or ``client_id``
    when the token has no ``aud``) against the configured audiences. Claims of any JSON type are
    refused, never raised on: a string audience, or a list of them, is the only one that matches.
    """
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {str(header.get('alg'))[:20]!r} is not accepted")
        if header.get("kid") != key.key_id:
            raise InvalidToken("unknown signing key (kid); mint tokens with `make token`")
        claims = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=list(ALGORITHMS),
            issuer=authorizer.issuer,
            options={"require": ["exp", "iss"], "verify_aud": False},
        )
    # PyJWT turns a claim of the wrong type into a TypeError or an OverflowError (exp: 1e400), not
    # always into its own errors.
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError) as error:
        raise InvalidToken(str(error)) from None
    audience = claims["aud"] if "aud" in claims else claims.get("client_id")
    presented = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(value, str) and value in authorizer.audiences for value in presented):
        configured = list(authorizer.audiences)
        raise InvalidToken(f"audience {json.dumps(audience)[:100]} is not one of {configured}")
    return claims


def authorizer_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the authorizer hands them to Lambda: every value a string, arrays as "[a b]"."""

    def flatten(value: Any) -> str:
        if isinstance(value, list):
            return "[" + " ".join(flatten(item) for item in value) + "]"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: flatten(value) for name, value in claims.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print a JWT the local gateway accepts.")
    parser.add_argument("user", help="the user id, becomes the token's sub")
    parser.add_argument("--groups", default="", help="comma-separated Cognito groups, e.g. admin")
    args = parser.parse_args(argv)
    groups = tuple(group for group in args.groups.replace(" ", ",").split(",") if group)
    try:
        stacks = Stacks()
    except TemplateError as error:
        sys.exit(f"error: {error}")
    print(token_for(stacks, SigningKey.load_or_create(), args.user, groups))


if __name__ == "__main__":
    main()
