"""The OpenAPI documents under ``openapi/``: generated from the code (a test fails on drift), valid
OpenAPI 3.1, covering every deployed route with its token and its error bodies; and served by the
local gateway, with Swagger UI, without a token and without the internet."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from openapi_spec_validator import validate

from devtools.contracts import openapi
from devtools.emulator.apigw import routes
from devtools.local import api_docs
from devtools.template import Stacks

DOCUMENTS = {
    service: json.loads(openapi.document_path(service).read_text()) for service in openapi.HTTP_SERVICES
}
METHODS = {"get", "put", "post", "delete", "patch"}


def _operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)  # "/users/{id}" and "/users/{user_id}" are one route


# -- generated from the code, committed -------------------------------------------------------------


def test_committed_documents_match_the_code(stacks: Stacks):
    assert openapi.drift(stacks) == [], "run `make openapi` and commit the result"


def test_drift_is_detected(stacks: Stacks, tmp_path):
    assert sorted(openapi.drift(stacks, tmp_path)) == sorted(
        f"{service}.json is out of date" for service in openapi.HTTP_SERVICES
    )
    for path, text in openapi.expected(stacks, tmp_path).items():
        path.write_text(text)
    assert openapi.drift(stacks, tmp_path) == []
    users = openapi.document_path("users", tmp_path)
    users.write_text(users.read_text().replace('"409"', '"410"'))
    (tmp_path / "payments.json").write_text("{}")
    assert openapi.drift(stacks, tmp_path) == ["users.json is out of date", "payments.json has no service"]


# -- what the documents say -------------------------------------------------------------------------


@pytest.mark.parametrize("service", openapi.HTTP_SERVICES)
def test_each_document_is_valid_openapi_3_1(service: str):
    assert DOCUMENTS[service]["openapi"].startswith("3.1.")
    validate(DOCUMENTS[service])


@pytest.mark.parametrize("service", openapi.HTTP_SERVICES)
def test_each_document_has_exactly_the_deployed_routes(stacks: Stacks, service: str):
    deployed = {
        (r.method, _shape(r.route_key.split(" ", 1)[1])) for r in routes(stacks) if r.service == service
    }
    documented = {(method, _shape(path)) for method, path in _operations(DOCUMENTS[service])}
    assert documented == deployed


@pytest.mark.parametrize("service", openapi.HTTP_SERVICES)
def test_every_operation_needs_a_bearer_token_and_documents_its_errors(service: str):
    document = DOCUMENTS[service]
    assert document["components"]["securitySchemes"] == {
        "jwt": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The HTTP API's JWT authorizer (Cognito ID tokens).",
        }
    }
    assert document["security"] == [{"jwt": []}]
    assert document["servers"][0]["url"] == "/"
    for key, operation in _operations(document).items():
        statuses = set(operation["responses"])
        assert {"401", "422", "500"} <= statuses, key
        assert any(status.startswith("2") for status in statuses), key
        if "requestBody" in operation:
            assert {"400", "415"} <= statuses, key
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            expected = {"401": "GatewayError", "415": "InvalidRequest", "422": "InvalidRequest"}.get(
                status, "Error"
            )
            assert response["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{expected}"
            }, (key, status)
            assert ("x-correlation-id" in response.get("headers", {})) == (status != "401"), (key, status)


def test_routes_name_the_errors_their_code_returns():
    # By name: a service added later has its own document, not one of these.
    users, orders, notifications = (_operations(DOCUMENTS[s]) for s in ("users", "orders", "notifications"))
    assert set(users[("POST", "/users")]["responses"]) >= {"201", "409"}
    assert set(users[("PATCH", "/users/{user_id}")]["responses"]) >= {"200", "403", "404", "409"}
    assert set(users[("DELETE", "/users/{user_id}")]["responses"]) >= {"204", "403", "404"}
    assert "content" not in users[("DELETE", "/users/{user_id}")]["responses"]["204"]
    assert set(orders[("POST", "/orders")]["responses"]) >= {"202", "409"}
    assert set(orders[("POST", "/orders/{order_id}/cancel")]["responses"]) >= {"200", "403", "404", "409"}
    assert set(orders[("GET", "/users/{user_id}/orders")]["responses"]) >= {"200", "400", "403"}
    assert set(notifications[("GET", "/users/{user_id}/notifications")]["responses"]) >= {"200", "400", "403"}


# -- served by the local gateway --------------------------------------------------------------------


@pytest.mark.parametrize("service", openapi.HTTP_SERVICES)
def test_the_gateway_serves_each_document_without_a_token(http: Callable, service: str):
    reply = http("GET", f"/openapi/{service}.json", token=None)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.raw == openapi.document_path(service).read_bytes()


@pytest.mark.parametrize(
    "path", ["/openapi/payments.json", "/openapi/users", "/openapi/../README.md", "/docs/x.js"]
)
def test_anything_else_under_the_documentation_paths_is_404(http: Callable, path: str):
    reply = http("GET", path, token=None)
    assert (reply.status, reply.json) == (404, {"message": "Not Found"})


def test_swagger_ui_is_served_from_node_modules_without_a_token_or_the_internet(http: Callable):
    reply = http("GET", "/docs", token=None)
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    page = reply.raw.decode()
    assert not re.search(r"https?://", page), "the page must load nothing from the internet"
    assert "validatorUrl: null" in page  # Swagger UI would otherwise call validator.swagger.io
    for service in openapi.HTTP_SERVICES:
        assert f'"url": "/openapi/{service}.json"' in page
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(loaded) == sorted(f"/docs/{name}" for name in api_docs.ASSETS)
    for path in loaded:
        asset = http("GET", path, token=None)
        assert asset.status == 200, path
        assert asset.headers["content-type"] == api_docs.ASSETS[path.removeprefix("/docs/")]
        assert asset.raw == (api_docs.SWAGGER_UI / path.removeprefix("/docs/")).read_bytes()
    assert b"SwaggerUIBundle" in http("GET", "/docs/swagger-ui-bundle.js", token=None).raw


def test_the_api_still_needs_a_token_next_to_the_documentation(http: Callable):
    assert http("GET", "/users/u1", token=None).status == 401
    assert http("POST", "/openapi/users.json", token=None).status == 404  # only GET serves documents
