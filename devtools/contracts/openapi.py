"""OpenAPI documents of every service's HTTP API, generated from the code into ``openapi/``.

``python -m devtools.contracts.openapi write`` regenerates them (``make openapi``); ``check`` exits non-zero
when a committed document and the code drifted apart (the test suite asserts the same).

Powertools writes each document from the router of the service's HTTP function (its api module's
``app``): paths, parameters, request and response models, and the statuses each route declares
with ``responses=`` (which errors it returns, and why). What every route shares is added here:

- the JWT bearer scheme of the HTTP API's authorizer on every operation, and the gateway's 401;
- the error bodies of ``shared.http``: ``Error`` for every 4xx and 5xx a service answers,
  ``InvalidRequest`` (with ``detail``) for 415 and 422, which replaces Powertools' default 422;
- 400 and 415 on operations that take a body (checked before routing), 500 on every operation;
- optional parameters as absent rather than null (Powertools writes ``str | None`` as a union);
- the ``x-correlation-id`` request and response header, and the service's name as each operation's tag.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

from devtools.emulator.apigw import routes
from devtools.emulator.lambda_runtime import FunctionSpec, functions
from devtools.template import HTTP_SERVICES, ROOT, Stacks
from shared.http import CORRELATION_HEADER
from shared.settings import Settings

DOCUMENTS = ROOT / "openapi"
API_VERSION = "1.0.0"  # the version of the HTTP contract; bump it with a breaking change
SCHEMES = "#/components/schemas/"

DESCRIPTION = """\
Every operation needs a JWT in `Authorization: Bearer <token>`: a Cognito ID token in AWS, \
`make token USER=<id> [GROUPS=admin]` against the local stack. A caller acts on its own \
resources; the `admin` group acts on anyone's.

Errors are JSON: `{"statusCode", "message"}`, with `detail` naming each offending field or part \
of the body for 400, 415 and 422. A 401 comes from the gateway, as `{"message": "Unauthorized"}`.

Send `x-correlation-id` to choose the id that follows the request through every service's logs \
and events; every answer of a service carries it."""

ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "title": "Error",
        "description": "The body of every error a service answers (shared/http.py).",
        "type": "object",
        "properties": {
            "statusCode": {"type": "integer", "description": "The HTTP status, again."},
            "message": {"type": "string"},
            "detail": {"type": "array", "items": {"$ref": f"{SCHEMES}ErrorDetail"}},
        },
        "required": ["statusCode", "message"],
    },
    "InvalidRequest": {
        "title": "InvalidRequest",
        "description": "An error naming what in the request is wrong: one entry per problem.",
        "allOf": [{"$ref": f"{SCHEMES}Error"}, {"required": ["detail"]}],
    },
    "ErrorDetail": {
        "title": "ErrorDetail",
        "type": "object",
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "description": 'Where: `["body", "email"]`, `["query", "limit"]`, `["body"]`...',
            },
            "type": {"type": "string", "description": "What, as a code: `missing`, `json_invalid`..."},
            "msg": {"type": "string"},
        },
        "required": ["loc", "type", "msg"],
    },
    "GatewayError": {
        "title": "GatewayError",
        "description": "An answer of API Gateway itself, before any function ran.",
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"],
    },
}
CORRELATION_PARAMETER = {
    "name": CORRELATION_HEADER,
    "in": "header",
    "required": False,
    "description": "The correlation id to use (letters, digits, `._:-`, at most 128); another "
    "value is replaced by a new id.",
    "schema": {"type": "string"},
}
CORRELATION_RESPONSE_HEADER = {
    "description": "The request's correlation id: the one sent, if valid, or a new one.",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
}

SHARED_RESPONSES = {
    400: "The body is not UTF-8 JSON, or is too large (16 KiB at most)",
    401: "No valid token: missing, expired, or not from the API's issuer and audience",
    415: "The body is not `application/json`",
    422: "The request does not validate: `detail` says where and why",
    500: "An unexpected error (its trace is in the function's log, never in the answer)",
}


def _error_content(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"{SCHEMES}{schema}"}}}


def _error_schema(status: int) -> str:
    return {401: "GatewayError", 415: "InvalidRequest", 422: "InvalidRequest"}.get(status, "Error")


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the ``null`` of ``str | None``: an optional parameter is absent,
    never null (a query or header value is a string)."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if len(branches) != 1:
        return schema
    return branches[0] | {key: value for key, value in schema.items() if key != "anyOf"}


def _complete_operation(operation: dict[str, Any], service: str) -> None:
    operation.setdefault("tags", [service])  # Swagger UI groups by tag ("default" otherwise)
    for parameter in operation.get("parameters", []):
        parameter["schema"] = _without_null(parameter["schema"])
    responses = {int(status): response for status, response in operation["responses"].items()}
    shared = [401, 422, 500] + ([400, 415] if "requestBody" in operation else [])
    for status in shared:
        responses.setdefault(status, {"description": SHARED_RESPONSES[status]})
    for status, response in responses.items():
        if status == 422:
            response["description"] = SHARED_RESPONSES[422]  # not Powertools' "Validation Error"
        if status >= 400:
            response["content"] = _error_content(_error_schema(status))
        if not response.get("content"):
            response.pop("content", None)  # e.g. 204: no body
        if status != 401:  # the gateway refuses before any function runs
            response.setdefault("headers", {})[CORRELATION_HEADER] = {
                "$ref": "#/components/headers/CorrelationId"
            }
    operation["responses"] = {str(status): responses[status] for status in sorted(responses)}
    operation["parameters"] = [
        *operation.get("parameters", []),
        {"$ref": "#/components/parameters/CorrelationId"},
    ]


def _referenced_schemas(document: dict[str, Any]) -> set[str]:
    """The component schemas the operations use, directly or through other schemas."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()
    pending = [json.dumps(document["paths"])]
    while pending:
        for name in re.findall(rf'"{SCHEMES}([^"]+)"', pending.pop()):
            if name not in found:
                found.add(name)
                pending.append(json.dumps(schemas[name]))
    return found


def document_for(service: str, app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The OpenAPI document of ``app``, the router of ``service``'s HTTP function."""
    document = json.loads(
        app.get_openapi_json_schema(
            title=f"Shop {service} API",
            version=API_VERSION,
            description=DESCRIPTION,
            servers=[
                Server(
                    url="/",
                    description="The HTTP API's default stage: in AWS its invoke URL (`serverless "
                    "info`), locally the gateway of `make dev` (http://127.0.0.1:3000).",
                )
            ],
            security_schemes={
                "jwt": HTTPBearer(
                    bearerFormat="JWT",
                    description="The HTTP API's JWT authorizer (Cognito ID tokens).",
                )
            },
            security=[{"jwt": []}],
        )
    )
    for operations in document["paths"].values():
        for operation in operations.values():
            _complete_operation(operation, service)
    components = document.setdefault("components", {})
    components["parameters"] = {"CorrelationId": CORRELATION_PARAMETER}
    components["headers"] = {"CorrelationId": CORRELATION_RESPONSE_HEADER}
    schemas = components.setdefault("schemas", {}) | ERROR_SCHEMAS
    components["schemas"] = schemas
    # Without Powertools' validation error schemas, which InvalidRequest replaced.
    used = _referenced_schemas(document)
    components["schemas"] = {name: schemas[name] for name in sorted(used)}
    return document


def http_function(stacks: Stacks, service: str) -> FunctionSpec:
    """The function behind ``service``'s HTTP API routes (one router Lambda per service)."""
    logical_ids = {route.function for route in routes(stacks) if route.service == service}
    found = [s for s in functions(stacks).values() if s.service == service and s.logical_id in logical_ids]
    if len(found) != 1:
        raise ValueError(f"{service}: expected one function behind its routes, found {len(found)}")
    return found[0]


def load_app(spec: FunctionSpec) -> APIGatewayHttpResolver:
    """The ``app`` of the function's handler module, imported under its environment (restored after)."""
    source = str(ROOT / "services" / spec.service / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    saved = dict(os.environ)
    try:
        spec.load()
        module = importlib.import_module(spec.handler.rsplit(".", 1)[0].replace("/", "."))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        Settings.reset()
    return module.app


def document_path(service: str, directory: Path | None = None) -> Path:
    return (directory or DOCUMENTS) / f"{service}.json"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected(stacks: Stacks, directory: Path | None = None) -> dict[Path, str]:
    return {
        document_path(service, directory): render(
            document_for(service, load_app(http_function(stacks, service)))
        )
        for service in HTTP_SERVICES
    }


def drift(stacks: Stacks, directory: Path | None = None) -> list[str]:
    """What differs between the code and the committed documents (empty when in sync)."""
    directory = directory or DOCUMENTS
    wanted = expected(stacks, directory)
    problems = [
        f"{path.name} is out of date"
        for path, text in wanted.items()
        if not path.exists() or path.read_text() != text
    ]
    problems += [
        f"{path.name} has no service" for path in sorted(directory.glob("*.json")) if path not in wanted
    ]
    return problems


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    stacks = Stacks()
    if command == "write":
        DOCUMENTS.mkdir(exist_ok=True)
        for path in DOCUMENTS.glob("*.json"):
            path.unlink()
        for path, text in expected(stacks).items():
            path.write_text(text)
        print(f"wrote {len(HTTP_SERVICES)} OpenAPI documents under {DOCUMENTS.relative_to(ROOT)}/")
        return 0
    problems = drift(stacks)
    for problem in problems:
        print(f"openapi/{problem}", file=sys.stderr)
    if problems:
        print("run `make openapi` and commit the result", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
