"""HTTP API plumbing shared by every service: the resolver, error mapping, caller identity and
correlation ids.

Error bodies are JSON and never carry a stack trace:

- bad input: 400 (malformed JSON, not UTF-8, too large), 415 (not JSON) or 422 (not an object,
  fields): ``{"statusCode", "message", "detail": [{"loc": [...], "type", "msg"}]}`` naming each
  offending field;
- ``ForbiddenError`` 403, ``NotFoundError`` 404, ``ConflictError`` 409: ``{"statusCode", "message"}``;
- anything unexpected: 500 ``{"statusCode": 500, "message": "Internal server error"}``, with the
  full trace in the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict

from shared.authorization import NotAllowed
from shared.entrypoint import Handler, lambda_entrypoint
from shared.events.envelope import new_id
from shared.observability import bind_correlation_id, logger, metrics
from shared.pagination import CURSOR_DESCRIPTION, InvalidCursor
from shared.snapstart import register_hooks

__all__ = [
    "BadRequestError",
    "Caller",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PageCursor",
    "PageLimit",
    "RequestBody",
    "UserId",
    "caller_of",
    "create_resolver",
    "http_entrypoint",
]

MAX_BODY_BYTES = 16 * 1024
# No request model nests more than a few levels. The bound is ours, not the parser's: how deep
# json.loads recurses before a RecursionError changed with Python 3.12 (5,000 levels now parse).
MAX_JSON_DEPTH = 32
CORRELATION_HEADER = "x-correlation-id"
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ADMIN_GROUP = "admin"
# What a user id may be (a Cognito `sub` is a UUID): bounded well below DynamoDB's key size, so a
# long or odd id in a path is a 422, never a failed write; no '#', the keys' separator.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:-]{1,128}$"
UserId = Annotated[str, Path(pattern=USER_ID_PATTERN, description="The user's id (the `sub` of their token)")]
_USER_ID = re.compile(USER_ID_PATTERN)
PageLimit = Annotated[int, Query(ge=1, le=100)]
"""The ``limit`` of every paginated route: 1 to 100 items a page."""
PageCursor = Annotated[str | None, Query(min_length=1, max_length=200, description=CURSOR_DESCRIPTION)]
"""The ``cursor`` of every paginated route; one this API did not hand out is a 400."""


class ConflictError(ServiceError):
    def __init__(self, msg: str) -> None:
        super().__init__(HTTPStatus.CONFLICT, msg)


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass(frozen=True)
class Caller:
    user_id: str
    is_admin: bool

    def may_act_on(self, user_id: str) -> bool:
        return self.is_admin or self.user_id == user_id


def _groups(claim: Any) -> set[str]:
    # API Gateway passes a JWT array claim as a string such as "[admin editors]".
    if isinstance(claim, list):
        return {str(group) for group in claim}
    if isinstance(claim, str):
        return set(claim.strip("[]").replace(",", " ").split())
    return set()


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The authenticated caller: the JWT ``sub``; ``cognito:groups`` holding admin acts on anyone."""
    claims = app.current_event.request_context.authorizer.jwt_claim
    subject = claims.get("sub")
    if not subject:
        # The JWT authorizer guarantees a token; a route without one is a wiring error.
        raise ForbiddenError("No authenticated caller")
    if not _USER_ID.fullmatch(str(subject)):
        raise ForbiddenError("The token's subject is not a user id this API accepts")
    return Caller(user_id=str(subject), is_admin=ADMIN_GROUP in _groups(claims.get("cognito:groups")))


def _json(status: int, body: Mapping[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def create_resolver() -> APIGatewayHttpResolver:
    """An HTTP API resolver validating requests and responses against their pydantic models."""
    app = APIGatewayHttpResolver(enable_validation=True)

    def _invalid_request(error: RequestValidationError) -> Response[str]:
        detail = [
            {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
            for e in error.errors()
        ]
        return _json(422, {"statusCode": 422, "message": "Request validation failed", "detail": detail})

    def _not_allowed(error: NotAllowed) -> Response[str]:
        return _json(403, {"statusCode": 403, "message": "You may only access your own resources"})

    def _invalid_cursor(error: InvalidCursor) -> Response[str]:
        return _json(400, {"statusCode": 400, "message": "Invalid cursor"})

    def _service_error(error: ServiceError) -> Response[str]:
        return _json(error.status_code, {"statusCode": error.status_code, "message": error.msg})

    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return _json(500, {"statusCode": 500, "message": "Internal server error"})

    # Registered by calls rather than as decorators: Powertools' decorator is untyped.
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(NotAllowed)(_not_allowed)
    app.exception_handler(InvalidCursor)(_invalid_cursor)
    app.exception_handler(ServiceError)(_service_error)
    app.exception_handler(Exception)(_unexpected)
    return app


def _correlation_id(event: Mapping[str, Any]) -> str:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    candidate: str = headers.get(CORRELATION_HEADER, "")
    if _VALID_CORRELATION_ID.fullmatch(candidate):
        return candidate
    request_id: str | None = (event.get("requestContext") or {}).get("requestId")
    return request_id or new_id()


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body)
    return size * 3 // 4 if event.get("isBase64Encoded") else size


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _body_problem(event: Mapping[str, Any]) -> tuple[int, str, str] | None:
    """Why the body cannot be a JSON object, checked before any route sees it; ``None`` if it can.

    Strict where Python's parser is lenient or fails badly: UTF-8 only, no NaN/Infinity, no
    nesting deeper than ``MAX_JSON_DEPTH``, no integer beyond its digit limit, an object at the top
    (not a list whose first element would be validated alone).
    """
    body = event.get("body")
    if not body:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return 415, "unsupported_media_type", "Request body must be application/json"
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8") if event.get("isBase64Encoded") else body
        document = json.loads(text, parse_constant=_reject_constant)
    except (binascii.Error, UnicodeDecodeError):
        return 400, "json_invalid", "Request body is not UTF-8 JSON"
    except (ValueError, RecursionError):  # JSONDecodeError, NaN, digit limit; nesting
        return 400, "json_invalid", "Request body is not valid JSON"
    if _depth(document) > MAX_JSON_DEPTH:
        return 400, "json_invalid", f"Request body is nested deeper than {MAX_JSON_DEPTH} levels"
    if not isinstance(document, dict):
        return 422, "model_attributes_type", "Request body must be a JSON object"
    return None


def _depth(document: Any) -> int:
    """How deeply arrays and objects nest in a parsed document (iterative: no recursion limit)."""
    deepest, pending = 0, [(document, 0)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level + 1)
            pending.extend(
                (child, level + 1) for child in (value.values() if isinstance(value, dict) else value)
            )
    return deepest


def _body_error(status: int, error_type: str, message: str) -> dict[str, Any]:
    """A Lambda proxy response in the shape of the resolver's validation errors."""
    detail = [{"loc": ["body"], "type": error_type, "msg": message}]
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"statusCode": status, "message": message, "detail": detail}),
        "isBase64Encoded": False,
    }


def http_entrypoint(app: APIGatewayHttpResolver, *, max_body_bytes: int = MAX_BODY_BYTES) -> Handler:
    """The Lambda entry point of an HTTP API function: correlation id in and out, body size limit,
    Powertools logging context, tracing and metrics. Under SnapStart every route of ``app`` is
    primed through the same steps before the snapshot (``shared.snapstart``); what priming
    measured is dropped, not published."""

    def serve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        correlation_id = _correlation_id(event)
        bind_correlation_id(correlation_id)
        app.context.update(correlation_id=correlation_id)
        if _body_size(event) > max_body_bytes:
            response = _body_error(400, "too_large", f"Request body larger than {max_body_bytes} bytes")
        elif problem := _body_problem(event):
            response = _body_error(*problem)
        else:
            response = app.resolve(event, context)
        response.setdefault("headers", {})[CORRELATION_HEADER] = correlation_id
        return response

    register_hooks(app, serve, after_priming=metrics.clear_metrics)
    return lambda_entrypoint(serve)
