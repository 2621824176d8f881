import json

import pytest
from pydantic import Field

from devtools.emulator.apigw import http_event, jwt_claims
from devtools.emulator.lambda_runtime import LambdaContext
from shared.authorization import authorize
from shared.http import (
    ConflictError,
    NotFoundError,
    RequestBody,
    caller_of,
    create_resolver,
    http_entrypoint,
)


class Widget(RequestBody):
    name: str = Field(min_length=1, max_length=10)
    size: int


app = create_resolver()


@app.post("/widgets")
def create_widget(widget: Widget) -> dict:
    if widget.name == "taken":
        raise ConflictError("Widget name taken")
    return {"name": widget.name, "correlation_id": app.context["correlation_id"]}


@app.get("/users/<user_id>/widgets")
def list_widgets(user_id: str) -> dict:
    authorize(caller_of(app), user_id)
    if user_id == "ghost":
        raise NotFoundError("No such user")
    return {"widgets": []}


@app.get("/boom")
def boom() -> dict:
    raise RuntimeError("secret internals /var/task/app.py")


handler = http_entrypoint(app)


def call(method, path, body=None, user="u1", groups=(), headers=None):
    event = http_event(method, path, body=body, claims=jwt_claims(user, groups=groups), headers=headers)
    response = handler(event, LambdaContext("test-fn"))
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_valid_body_and_correlation_id_from_the_request_header():
    status, body, headers = call(
        "POST", "/widgets", '{"name": " w ", "size": 1}', headers={"X-Correlation-Id": "abc"}
    )
    assert status == 200
    assert body == {"name": "w", "correlation_id": "abc"}
    assert headers["x-correlation-id"] == "abc"


def test_correlation_id_defaults_to_the_request_id():
    event = http_event("POST", "/widgets", body='{"name": "w", "size": 1}', claims=jwt_claims("u1"))
    response = handler(event, LambdaContext("test-fn"))
    assert response["headers"]["x-correlation-id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ('{"name": "w"}', 422, "size"),
        ('{"name": "w", "size": "big"}', 422, "size"),
        ('{"name": "w", "size": 1, "admin": true}', 422, "admin"),
        ('{"name": "", "size": 1}', 422, "name"),
        ("{not json", 400, None),
        ("[]", 422, None),
        ('{"name": "w", "size": NaN}', 400, None),
        ('{"name": "w", "size": ' + "9" * 5000 + "}", 400, None),
        ('{"name": ' + "[" * 5000 + "]" * 5000 + ', "size": 1}', 400, None),
        # MAX_JSON_DEPTH levels (the object and 31 arrays) reach validation; one more is refused.
        ('{"name": ' + "[" * 31 + "]" * 31 + ', "size": 1}', 422, "name"),
        ('{"name": ' + "[" * 32 + "]" * 32 + ', "size": 1}', 400, None),
    ],
)
def test_bad_input_gets_a_4xx_json_error_naming_the_field(body, status, field):
    got, payload, _ = call("POST", "/widgets", body)
    assert got == status
    assert payload["statusCode"] == status
    if field:
        assert any(field in map(str, d["loc"]) for d in payload["detail"])


@pytest.mark.parametrize(
    ("content_type", "body", "base64", "status"),
    [
        ("text/plain", '{"name": "w", "size": 1}', False, 415),
        ("application/x-www-form-urlencoded", "name=w&size=1", False, 415),
        ("application/json; charset=utf-8", '{"name": "w", "size": 1}', False, 200),
        ("application/xml", "<widget/>", False, 415),
        ("application/json", "/w==", True, 400),  # base64 of bytes that are not UTF-8
    ],
)
def test_bodies_must_be_utf8_json(content_type, body, base64, status):
    event = http_event(
        "POST", "/widgets", body=body, claims=jwt_claims("u1"), headers={"content-type": content_type}
    )
    event["isBase64Encoded"] = base64
    response = handler(event, LambdaContext("test-fn"))
    assert response["statusCode"] == status
    assert json.loads(response["body"])


def test_oversized_bodies_are_refused_before_parsing():
    status, payload, headers = call(
        "POST", "/widgets", json.dumps({"name": "w", "size": 1, "pad": "x" * 17000})
    )
    assert status == 400
    assert "larger than 16384 bytes" in payload["message"]
    assert headers["x-correlation-id"]


def test_domain_errors_map_to_their_status():
    assert call("POST", "/widgets", '{"name": "taken", "size": 1}')[:2] == (
        409,
        {"statusCode": 409, "message": "Widget name taken"},
    )
    assert call("GET", "/users/u2/widgets", user="u1")[0] == 403
    assert call("GET", "/users/u2/widgets", user="boss", groups=("admin",))[0] == 200
    assert call("GET", "/users/ghost/widgets", user="ghost")[:2] == (
        404,
        {"statusCode": 404, "message": "No such user"},
    )


def test_unexpected_errors_are_500_without_internals():
    status, payload, headers = call("GET", "/boom")
    assert status == 500
    assert payload == {"statusCode": 500, "message": "Internal server error"}
    assert headers["x-correlation-id"]
