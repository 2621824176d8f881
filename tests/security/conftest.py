"""Requests through the local gateway (``devtools.local.gateway``) in process: the route table and JWT
authorizers of the packaged templates, real signed tokens, and the real handlers on moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.emulator.apigw import routes
from devtools.emulator.jwt_local import SigningKey, authorizers, token_for
from devtools.emulator.plumbing import Plumbing
from devtools.local.gateway import Gateway, Reply
from devtools.template import Stacks


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @classmethod
    def of(cls, reply: Reply) -> HttpReply:
        return cls(reply.status, {name.lower(): value for name, value in reply.headers}, reply.body)


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    """A key of this test session only: tokens from `make token` mean nothing here."""
    return SigningKey.load_or_create(tmp_path_factory.mktemp("jwt"))


@pytest.fixture
def gateway(aws: Stacks, plumbing: Plumbing, signing_key: SigningKey) -> Gateway:
    gateway = Gateway(
        routes=routes(aws),
        authorizers=authorizers(aws),
        key=signing_key,
        invoke=plumbing.invoke,
        function_names={(spec.service, spec.logical_id): name for name, spec in plumbing.specs.items()},
    )
    gateway.ready.set()
    return gateway


@pytest.fixture
def http(gateway: Gateway, aws: Stacks, signing_key: SigningKey) -> Callable[..., HttpReply]:
    """``http("POST", "/users", body=b"...", user="u1")``: one request as a client sends it. ``body``
    is sent as given (bytes or str); a dict is sent as JSON. ``token=None`` sends no Authorization."""
    tokens: dict[str, str] = {}

    def request(
        method: str,
        path: str,
        *,
        body: bytes | str | dict | None = None,
        user: str = "u1",
        token: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> HttpReply:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        sent = {"content-type": "application/json"} if body is not None else {}
        sent |= {name.lower(): value for name, value in (headers or {}).items()}
        if token == "":
            token = tokens.get(user) or tokens.setdefault(user, token_for(aws, signing_key, user))
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        return HttpReply.of(gateway.handle(method, path, list(sent.items()), body or b""))

    return request
