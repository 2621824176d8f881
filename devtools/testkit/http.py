"""Requests to a service's HTTP API function as API Gateway sends them: the route key and path
parameters the packaged template's routes give (``devtools.emulator.apigw``), and the claims its JWT
authorizer hands over for a user."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devtools.emulator.apigw import Route, http_event, jwt_claims, match, routes
from devtools.template import Stacks

Invoke = Callable[[dict], Any]  # an event in, what the handler returned out


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any  # the decoded JSON, None when empty


def api_routes(stacks: Stacks, service: str) -> list[Route]:
    """The HTTP API routes of ``service``'s packaged template."""
    return [route for route in routes(stacks) if route.service == service]


def http_request(
    invoke: Invoke,
    routes: list[Route],
    method: str,
    path: str,
    *,
    body: Any = None,
    user: str = "u1",
    admin: bool = False,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> HttpResult:
    """One request through ``invoke``, by the route of ``routes`` API Gateway would pick. ``body``
    is sent as given when it is text or bytes, else as JSON; ``admin`` puts the user in the admin
    group."""
    found = match(routes, method, path)
    if found is None:
        raise LookupError(f"no route for {method} {path}")
    route, parameters = found
    event = http_event(
        method,
        path,
        route_key=route.route_key,
        path_parameters=parameters or None,
        body=body if body is None or isinstance(body, str | bytes) else json.dumps(body),
        headers=headers,
        query=query,
        claims=jwt_claims(user, groups=("admin",) if admin else ()),
    )
    response = invoke(event)
    text = response.get("body")
    return HttpResult(response["statusCode"], response.get("headers", {}), json.loads(text) if text else None)
