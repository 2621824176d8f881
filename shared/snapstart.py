"""Lambda SnapStart for the HTTP API functions: priming before the snapshot, re-seeding after restore.

With SnapStart (on in ``prod``: the ``snapStart`` param of each service), Lambda runs a published
version's init once, snapshots the memory and starts later environments from that snapshot. The
runtime's ``snapshot_restore_py`` (in Lambda's Python 3.12+ runtimes, not on PyPI's path here)
runs our hooks:

- before the snapshot, ``prime``: one synthetic request per route through the resolver, so what a
  first request would build lazily (routing, the validation models' first run, botocore's
  serializers, endpoint resolution, response parsers) is in the snapshot. Every HTTP call the AWS
  clients make meanwhile is answered in process with an empty result, so priming writes nothing and
  opens no connection that a restored copy would share;
- after restore, ``reseed``: every environment restored from one snapshot starts with the same
  memory, so the ``random`` module is seeded again from the OS and the ULID generator's
  same-millisecond state is dropped (``uuid4`` and ULID randomness come from ``os.urandom``).

Outside Lambda the hooks are not registered (the library is absent): ``register_hooks`` does
nothing, so tests and the local stack behave as before.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

import ulid
from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # not in a Lambda runtime
    register_after_restore = register_before_snapshot = None

# Fills every path parameter and the caller's `sub`: a valid user id no real user has.
PRIMING_ID = "snapstart-priming"
# A body no request model accepts (they forbid unknown fields): a body route answers 422 before
# any domain code runs, after building its validation.
PRIMING_BODY = {"snapstart_priming": True}


# What every AWS call gets while priming: JSON-protocol parsers keep the members their operation
# has and ignore the others, so GetItem finds no item, Query an empty page, a write succeeds.
EMPTY_RESULT = json.dumps({"Items": [], "Count": 0}).encode()


class _EmptyRawResponse:
    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        yield EMPTY_RESULT


def _empty_response(session: URLLib3Session, request: Any) -> AWSResponse:
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _EmptyRawResponse())


@contextmanager
def no_network() -> Iterator[None]:
    """Every AWS call in the block gets ``EMPTY_RESULT`` (200) without leaving the process."""
    with mock.patch.object(URLLib3Session, "send", _empty_response):
        yield


def priming_event(method: str, path: str, *, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway v2 (HTTP API) event for ``path`` (``{name}`` segments filled with ``PRIMING_ID``)."""
    raw_path = "/".join(PRIMING_ID if s.startswith("{") else s for s in path.split("/"))
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "authorizer": {"jwt": {"claims": {"sub": PRIMING_ID}, "scopes": None}},
            "requestId": PRIMING_ID,
            "routeKey": f"{method} {path}",
            "stage": "$default",
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


Serve = Callable[[dict[str, Any], Any], dict[str, Any]]


def prime(app: APIGatewayHttpResolver, serve: Serve, after: Callable[[], None] = lambda: None) -> list[int]:
    """``serve`` one synthetic request per route of ``app``, without network; the status codes."""
    statuses = []
    with no_network():
        for route in app._static_routes + app._dynamic_routes:  # Powertools keeps no public list
            body = PRIMING_BODY if route.method in {"POST", "PUT", "PATCH"} else None
            response = serve(priming_event(route.method, route.openapi_path, body=body), {})
            statuses.append(int(response["statusCode"]))
    after()
    return statuses


def reseed() -> None:
    """Make what a snapshot copies differ again in each restored environment."""
    random.seed()
    generator = ulid.default_generator
    generator.policy = type(generator.policy)()


def register_hooks(app: APIGatewayHttpResolver, serve: Serve, after_priming: Callable[[], None]) -> bool:
    """Register ``prime`` and ``reseed`` with Lambda's runtime hooks; False outside Lambda."""
    if register_before_snapshot is None or register_after_restore is None:
        return False
    register_before_snapshot(prime, app, serve, after_priming)
    register_after_restore(reseed)
    return True
