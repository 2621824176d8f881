"""API Gateway HTTP API (payload format 2.0) as the Lambda integration sees it: routes read from
the packaged templates, path matching, and the event a function receives."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from devtools.template import Stacks
from shared.events.envelope import new_id


@dataclass(frozen=True)
class Route:
    service: str
    route_key: str  # "GET /users/{id}"
    function: str  # logical id of the AWS::Lambda::Function
    authorizer: str | None  # logical id of the JWT authorizer, None for an open route
    pattern: re.Pattern[str]

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0]


def _path_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
    return re.compile(f"^{regex}$")


def integrated_function(uri: dict[str, Any]) -> str:
    """The function's logical id in an integration's ``IntegrationUri``: its ARN, or with SnapStart
    its alias's (``{"Fn::Join": [":", [<the function's ARN>, "snapstart"]]}``)."""
    if "Fn::Join" in uri:
        uri = uri["Fn::Join"][1][0]
    return uri["Fn::GetAtt"][0]


def routes(stacks: Stacks) -> list[Route]:
    """Every HTTP API route of every packaged service, with the function it integrates."""
    found = []
    for service, template in stacks.templates.items():
        integrations = {
            logical_id: integrated_function(props["IntegrationUri"])
            for logical_id, props in template.of_type("AWS::ApiGatewayV2::Integration")
        }
        for _, props in template.of_type("AWS::ApiGatewayV2::Route"):
            target = props["Target"]["Fn::Join"][1][1]["Ref"]
            authorizer = (
                props.get("AuthorizerId", {}).get("Ref") if props.get("AuthorizationType") == "JWT" else None
            )
            route_key = props["RouteKey"]
            path = route_key.split(" ", 1)[1]
            found.append(Route(service, route_key, integrations[target], authorizer, _path_pattern(path)))
    return found


def match(candidates: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick: exact paths before parameterised ones."""
    ranked = sorted(candidates, key=lambda r: (r.route_key.count("{"), -len(r.route_key)))
    for route in ranked:
        if route.method not in (method, "ANY"):
            continue
        found = route.pattern.match(path)
        if found:
            return route, found.groupdict()
    return None


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    claims: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event, as the Lambda integration receives it."""
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    if body is not None and "content-type" not in headers:
        headers["content-type"] = "application/json"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": new_id(),
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        parameters: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            # API Gateway joins repeated query parameters with commas.
            parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
        event["queryStringParameters"] = parameters
    if path_parameters:
        event["pathParameters"] = path_parameters
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if body is not None:
        if isinstance(body, bytes):
            try:
                event["body"] = body.decode()
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["body"] = body
    return event


def jwt_claims(
    user_id: str, *, groups: tuple[str, ...] = (), issuer: str = "local", audience: str = "local"
) -> dict:
    """Claims as the JWT authorizer hands them over: every value a string, arrays as "[a b]"."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": issuer,
        "aud": audience,
        "iat": str(now),
        "exp": str(now + 3600),
        "token_use": "id",
    }
    if groups:
        claims["cognito:groups"] = "[" + " ".join(groups) + "]"
    return claims
