"""Calling HTTP API functions the way API Gateway does, from one execution environment or many."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devtools.emulator.apigw import Route, http_event, jwt_claims, match
from devtools.emulator.lambda_runtime import FunctionSpec

Invoke = Callable[[dict], Any]  # an event in, what the handler returned out


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any  # decoded JSON, None when empty


def http_request(
    invoke: Invoke,
    service: str,
    routes: list[Route],
    method: str,
    path: str,
    *,
    body: Any = None,
    user: str = "u1",
) -> HttpResult:
    """One request through ``invoke``: the route key and path parameters API Gateway would pick from
    ``service``'s routes, the JWT authorizer's claims for ``user``."""
    found = match([route for route in routes if route.service == service], method, path)
    assert found, f"no {service} route for {method} {path}"
    route, parameters = found
    event = http_event(
        method,
        path,
        route_key=route.route_key,
        path_parameters=parameters or None,
        body=None if body is None else json.dumps(body),
        claims=jwt_claims(user),
    )
    response = invoke(event)
    text = response.get("body")
    return HttpResult(response["statusCode"], json.loads(text) if text else None)


def execution_environments(spec: FunctionSpec, count: int) -> list[Invoke]:
    """``count`` copies of a function's handler, one per simulated execution environment.

    Lambda runs one request at a time per environment, and handler modules rely on it (the
    Powertools resolver keeps the current event on the app). Concurrent requests therefore each
    get their own module instance: its own resolver, clients and repositories, as ``count``
    concurrent Lambda invocations would. Shared code (``shared``, the domain) is imported once.
    """
    spec.load()  # the function's environment, and the module's packages imported
    module_name = spec.handler.rsplit(".", 1)[0].replace("/", ".")
    origin = sys.modules[module_name].__spec__.origin
    handlers = []
    for index in range(count):
        name = f"{module_name}__environment_{index}"
        copy_spec = importlib.util.spec_from_file_location(name, origin)
        module = importlib.util.module_from_spec(copy_spec)
        sys.modules[name] = module  # pydantic resolves the module's annotations through it
        copy_spec.loader.exec_module(module)
        handler = getattr(module, spec.handler.rsplit(".", 1)[1])
        handlers.append(lambda event, handler=handler: handler(event, spec.context()))
    return handlers
