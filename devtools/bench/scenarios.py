"""A valid request for each HTTP API route, with the data it needs created first (untimed): a
user with a profile (and its copy in orders), an order, a fresh user where a request changes or
deletes one. Routes without a scenario here are reported as skipped by the benchmarks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from devtools.bench.world import World
from devtools.emulator.apigw import http_event, jwt_claims, routes
from shared.events.envelope import new_id

ORDER = {
    "items": [{"sku": "BENCH-1", "quantity": 1, "unit_price": "9.99"}],
    "currency": "EUR",
    "payment_token": "tok_bench",
}


@dataclass(frozen=True)
class Request:
    route_key: str
    path: str
    user: str
    path_parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""

    @property
    def method(self) -> str:
        return self.route_key.split(" ", 1)[0]

    def event(self) -> dict[str, Any]:
        return http_event(
            self.method,
            self.path,
            route_key=self.route_key,
            path_parameters=self.path_parameters or None,
            body=json.dumps(self.body) if self.body is not None else None,
            headers=self.headers,
            query=self.query,
            claims=jwt_claims(self.user),
        )


def _path(route_key: str, identifier: str) -> str:
    return route_key.split(" ", 1)[1].replace("{id}", identifier)


def _body(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response.get("body") or "{}")


class Scenarios:
    def __init__(self, world: World) -> None:
        self.world = world
        functions = {(spec.service, spec.logical_id): name for name, spec in world.plumbing.specs.items()}
        self.functions = {r.route_key: functions[(r.service, r.function)] for r in routes(world.stacks)}
        self._seed: tuple[str, str] | None = None  # a user and their order, fulfilled
        self.builders: dict[str, Callable[[], Request]] = {
            "POST /users": self._create_user,
            "GET /users/{id}": lambda: self.on_user("GET /users/{id}", self.user()),
            "PATCH /users/{id}": self._patch_user,
            "DELETE /users/{id}": lambda: self.on_user(
                "DELETE /users/{id}", self.fresh_user(known_everywhere=False)
            ),
            "POST /orders": self._place_order,
            "GET /orders/{id}": lambda: self._on_order("GET /orders/{id}", self.order()),
            "POST /orders/{id}/cancel": self._cancel_order,
            "GET /users/{id}/orders": lambda: self.on_user("GET /users/{id}/orders", self.user()),
            "GET /users/{id}/notifications": lambda: self.on_user(
                "GET /users/{id}/notifications", self.user()
            ),
        }

    # -- what the routes need -------------------------------------------------------------------

    def call(self, request: Request) -> dict[str, Any]:
        response, _ = self.world.invoke(self.functions[request.route_key], request.event())
        if not 200 <= response["statusCode"] < 300:
            raise RuntimeError(
                f"{request.route_key} answered {response['statusCode']}: {response.get('body')}"
            )
        return response

    def fresh_user(self, *, known_everywhere: bool = True) -> str:
        """A user with a profile; ``known_everywhere``: its events delivered to every service."""
        request = self._create_user()
        self.call(request)
        if known_everywhere:
            self.world.drain()
        else:
            self.world.sync_mirror()
        return request.user

    def _seeded(self) -> tuple[str, str]:
        if self._seed is None:
            user = self.fresh_user()
            self._seed = (user, self.placed_order(user, drain=True))
        return self._seed

    def user(self) -> str:
        return self._seeded()[0]

    def order(self) -> str:
        return self._seeded()[1]

    def placed_order(self, user: str, *, drain: bool) -> str:
        order = _body(self.call(self._place_order(user)))["order_id"]
        if drain:
            self.world.drain()
        else:  # recorded, not fulfilled: only the queues are delivered, not the streams
            while self.world.plumbing.deliver_queues():
                pass
            self.world.sync_mirror()
        return order

    # -- requests --------------------------------------------------------------------------------

    def request(self, route_key: str) -> Request | None:
        """A request ready to send (its data prepared), or None when there is no scenario."""
        builder = self.builders.get(route_key)
        return builder() if builder else None

    def on_user(self, route_key: str, user: str) -> Request:
        return Request(route_key, _path(route_key, user), user, {"id": user})

    def _on_order(self, route_key: str, order: str) -> Request:
        return Request(route_key, _path(route_key, order), self.user(), {"id": order})

    def _create_user(self) -> Request:
        user = new_id()
        return Request(
            "POST /users", "/users", user, body={"email": f"{user.lower()}@example.com", "name": "Bench"}
        )

    def _patch_user(self) -> Request:
        user = self.fresh_user(known_everywhere=False)
        request = self.on_user("PATCH /users/{id}", user)
        return replace(request, body={"name": "Bench Renamed", "version": 1})

    def _place_order(self, user: str | None = None) -> Request:
        return Request(
            "POST /orders", "/orders", user or self.user(), body=ORDER, headers={"Idempotency-Key": new_id()}
        )

    def _cancel_order(self) -> Request:
        order = self.placed_order(self.user(), drain=False)
        return self._on_order("POST /orders/{id}/cancel", order)
