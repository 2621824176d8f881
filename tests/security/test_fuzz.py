"""schemathesis against each service's committed OpenAPI document (``openapi/``), through the local
gateway on a free port: real HTTP, real signed tokens, the real handlers on moto.

Every operation gets valid and invalid requests (bodies, path, query and header parameters) from
its document; each answer must be no 5xx and one the document promises: a documented status, its
content type, its headers and a body matching its schema; an invalid request must not succeed, and a
valid one must not be refused for its shape (400, 415, 422): only for the state it meets.

The caller is an admin, so requests reach the handlers with any user id instead of stopping at 403.
``FUZZ_EXAMPLES`` sets the examples per operation: a few in ``make test``, hundreds in ``make fuzz``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from urllib.parse import urlsplit

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from devtools.contracts.openapi import document_path
from devtools.emulator.jwt_local import SigningKey, token_for
from devtools.emulator.plumbing import Plumbing
from devtools.local.gateway import Gateway, serve
from devtools.template import Stacks

CALLER = "fuzz-admin"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# `make test` sends the same cases every run; `make fuzz` new ones each time (a failure prints its seed).
DETERMINISTIC = "FUZZ_EXAMPLES" not in os.environ
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]
# What a valid request may still get, from the state it meets rather than its shape: another user's
# resource (403), an unknown id (404), a conflict with what is stored (409: the caller's profile exists,
# a stale version, a final order, a reused Idempotency-Key); with a cursor, one this API did not hand
# out (400).
ACCEPTED = ["2xx", "403", "404", "409"]


def _accepting(statuses: list[str]) -> dict:
    return {"positive_data_acceptance": {"expected-statuses": statuses}}


def _config(service: str) -> SchemathesisConfig:
    document = json.loads(document_path(service).read_text())
    paged = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if any(parameter.get("name") == "cursor" for parameter in operation["parameters"])
    ]
    operations = [{"include-operation-id": paged, "checks": _accepting([*ACCEPTED, "400"])}] if paged else []
    return SchemathesisConfig.from_dict({"checks": _accepting(ACCEPTED), "operations": operations})


def _schema(service: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_path(document_path(service), config=_config(service))
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        with_security_parameters=False,  # the token is ours, valid: 401s are test_tokens.py's job
        deterministic=DETERMINISTIC,
        database="none",
    )
    return schema


users = _schema("users")
orders = _schema("orders")
notifications = _schema("notifications")
fuzzing = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def api(gateway: Gateway) -> Iterator[str]:
    server = serve(gateway, "127.0.0.1", 0)  # a free port: never the e2e stack's
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def admin(aws: Stacks, signing_key: SigningKey, http: Callable, plumbing: Plumbing) -> dict:
    """The caller's headers. It has a profile, known to orders too, so that valid orders are placed."""
    sender = plumbing.specs["shop-notifications-dev-deliver"].environment["SENDER_EMAIL"]
    boto3.client("ses").verify_email_identity(EmailAddress=sender)  # for its welcome e-mail
    assert (
        http("POST", "/users", body={"email": "fuzz@example.com", "name": "Fuzz"}, user=CALLER).status == 201
    )
    plumbing.drain()
    return {"Authorization": f"Bearer {token_for(aws, signing_key, CALLER, ('admin',))}"}


def _call_and_check(case: schemathesis.Case, api: str, admin: dict[str, str]) -> None:
    case.call_and_validate(base_url=api, headers=admin, checks=CHECKS, timeout=10)


@users.parametrize()
@fuzzing
def test_users_api(case: schemathesis.Case, api: str, admin: dict[str, str]) -> None:
    _call_and_check(case, api, admin)


@orders.parametrize()
@fuzzing
def test_orders_api(case: schemathesis.Case, api: str, admin: dict[str, str]) -> None:
    _call_and_check(case, api, admin)


@notifications.parametrize()
@fuzzing
def test_notifications_api(case: schemathesis.Case, api: str, admin: dict[str, str]) -> None:
    _call_and_check(case, api, admin)


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "QUERY"])
def test_any_other_method_gets_api_gateways_404_not_a_5xx(api: str, method: str):
    # Found by the fuzzer: http.server answered TRACE with an HTML 501.
    connection = HTTPConnection(urlsplit(api).netloc, timeout=10)
    connection.request(method, "/users/u1")
    reply = connection.getresponse()
    assert (reply.status, reply.read()) == (404, b'{"message": "Not Found"}')
    connection.close()
