"""One local HTTP endpoint for every service's HTTP API routes, behaving as API Gateway does.

Per request: match the route (exact paths before parameterised ones), run the route's JWT
authorizer (401 ``{"message":"Unauthorized"}`` otherwise), hand the integrated function an HTTP
API v2 event with the claims in ``requestContext.authorizer.jwt.claims``, and turn what it
returns into the HTTP response with the payload format 2.0 rules. No route gives 404
``{"message":"Not Found"}``; a handler that raises, times out or returns garbage gives 500
``{"message":"Internal Server Error"}`` (as an HTTP API answers a Lambda function error) with the
trace in the log, never in the response.
``/docs`` (Swagger UI) and ``/openapi/<service>.json`` are served without a token
(``devtools.local.api_docs``).

``serve`` runs it under Hypercorn (h11): the framing, size and timeout limits are in
docs/local-stack.md, "The gateway's HTTP server".
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import string
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from devtools.emulator.apigw import Route, http_event, match
from devtools.emulator.jwt_local import InvalidToken, JwtAuthorizer, SigningKey, authorizer_claims, validate
from devtools.emulator.lambda_runtime import FunctionError
from devtools.local import api_docs
from shared.http import CORRELATION_HEADER

log = logging.getLogger("devtools.local.gateway")

# RFC 3986 pchar: what a path segment may hold as it is, so decoding it moves no segment boundary.
_SEGMENT_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")

Invoke = Callable[[str, dict[str, Any]], Any]  # (function name, event) -> what the handler returned
HEALTH_PATH = "/health"
# API Gateway's HTTP API quotas: the request line and header values together, and the payload.
MAX_HEAD_BYTES = 10_240
MAX_BODY_BYTES = 10 * 1024 * 1024
# A longer head is refused by the HTTP parser itself (431), before it reaches the gateway.
PARSER_HEAD_LIMIT = 64 * 1024
IDLE_TIMEOUT = 5.0  # seconds a connection may wait for (or between) requests, head included
BODY_TIMEOUT = 10.0  # seconds a request's body may stall between two reads
HANDLER_THREADS = 32  # requests handled at once; more wait for a thread


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def message(cls, status: int, message: str) -> Reply:
        return cls(status, json.dumps({"message": message}).encode(), [("content-type", "application/json")])

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name), None)


@dataclass
class Gateway:
    routes: list[Route]
    authorizers: dict[tuple[str, str], JwtAuthorizer]
    key: SigningKey
    invoke: Invoke
    function_names: dict[tuple[str, str], str]  # (service, logical id) -> deployed function name
    ready: threading.Event = field(default_factory=threading.Event)

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Reply:
        url = urlsplit(target)
        if url.path == HEALTH_PATH and method == "GET":
            if self.ready.is_set():
                return Reply.message(200, "OK")
            return Reply.message(503, "Service Unavailable")
        if method in ("GET", "HEAD") and (page := api_docs.page(url.path)) is not None:
            return Reply(page.status, page.body, [("content-type", page.content_type)])  # no token needed
        found = match(self.routes, method, url.path)
        if found is None:
            return Reply.message(404, "Not Found")
        route, parameters = found
        joined = _join_headers(headers)
        claims = None
        if route.authorizer:
            authorizer = self.authorizers[(route.service, route.authorizer)]
            credential = joined.get(authorizer.identity_header)
            try:
                claims = self._authorize(authorizer, credential)
            except InvalidToken as error:
                log.info("401 %s %s: %s", method, url.path, error)
                return _unauthorized(error, token_sent=bool(credential))
        event = http_event(
            method,
            _decoded(url.path),
            route_key=route.route_key,
            path_parameters={name: unquote(value) for name, value in parameters.items()} or None,
            body=body or None,
            headers=joined,
            query=url.query,
            claims=claims,
        )
        if "cookie" in joined:
            event["cookies"] = [c.strip() for c in joined["cookie"].split(";") if c.strip()]
        function = self.function_names[(route.service, route.function)]
        try:
            reply = _reply(self.invoke(function, event))
        except FunctionError as error:  # its trace is in the function's own output
            log.error("%s failed on %s %s: %s", function, method, url.path, error)
            reply = Reply.message(500, "Internal Server Error")
        except Exception:
            log.exception("%s failed on %s %s", function, method, url.path)
            reply = Reply.message(500, "Internal Server Error")
        request_id = event["requestContext"]["requestId"]
        reply.headers.append(("apigw-requestid", request_id))
        if reply.header(CORRELATION_HEADER) is None:
            reply.headers.append((CORRELATION_HEADER, joined.get(CORRELATION_HEADER) or request_id))
        return reply

    def _authorize(self, authorizer: JwtAuthorizer, credential: str | None) -> dict[str, str]:
        if not credential:
            raise InvalidToken(f"no token in the {authorizer.identity_header} header")
        token = credential.removeprefix("Bearer ").strip()
        return authorizer_claims(validate(token, self.key, authorizer))


def _decoded(path: str) -> str:
    """The path as API Gateway hands it to the function (``rawPath``, which Powertools reads the path
    parameters from): percent-decoded. Only escapes of segment characters are decoded here; how AWS
    hands over an encoded ``/``, NUL or non-ASCII is not emulated (they stay as sent)."""

    def decode(escape: re.Match[str]) -> str:
        character = chr(int(escape[1], 16))
        return character if character in _SEGMENT_CHARACTERS else escape[0]

    return _ESCAPE.sub(decode, path)


def _unauthorized(error: InvalidToken, *, token_sent: bool) -> Reply:
    reply = Reply.message(401, "Unauthorized")
    if token_sent:  # API Gateway says why only when there was a token to refuse
        # The reason may quote the token's claims: a quoted-string of printable ASCII in a header.
        reason = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in str(error))
        reply.headers.append(
            ("www-authenticate", f'Bearer error="invalid_token" error_description="{reason}"')
        )
    return reply


def _join_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    # API Gateway hands repeated headers over as one, joined with commas.
    joined: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _reply(result: Any) -> Reply:
    """The HTTP response for a function's return value (HTTP API payload format 2.0)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything else is taken as the body of a 200 JSON response.
        body = result if isinstance(result, str) else json.dumps(result)
        return Reply(200, body.encode(), [("content-type", "application/json")])
    status = result["statusCode"]
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda response: statusCode {status!r}")
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
    return Reply(status, payload, headers)


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Refused(Exception):
    """A request refused before the gateway sees it; its connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.reply = Reply.message(status, message)
        self.reply.headers.append(("connection", "close"))


class GatewayApp:
    """The gateway as an ASGI application: the request's framing and size checked, its body read,
    ``Gateway.handle`` run in a thread (handlers block), the reply sent and logged."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.threads = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="gateway")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return None
        started = time.perf_counter()
        method = scope["method"]
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        try:
            _check_head(target, headers)
            body = await _body(headers, receive)
        except _Refused as refused:
            reply = refused.reply
        else:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(
                self.threads, self.gateway.handle, method, target, headers, body
            )
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (name.encode("latin-1", "replace"), value.encode("latin-1", "replace"))
                    for name, value in reply.headers
                    if name.lower() != "content-length"
                ]
                + [(b"content-length", str(len(reply.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})
        if urlsplit(target).path != HEALTH_PATH:
            log.info(
                "%s %s %d %.0f ms correlation_id=%s",
                method,
                target,
                reply.status,
                (time.perf_counter() - started) * 1000,
                reply.header(CORRELATION_HEADER) or "-",
            )


async def _lifespan(receive: Receive, send: Send) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def _check_head(target: str, headers: list[tuple[str, str]]) -> None:
    names = [name for name, _ in headers]
    # RFC 9112 6.3: a message with both may be an attempt at request smuggling; refused, not guessed.
    if "transfer-encoding" in names and "content-length" in names:
        raise _Refused(400, "Bad Request")
    if len(target) + sum(len(value) for _, value in headers) > MAX_HEAD_BYTES:
        raise _Refused(431, "Request Header Fields Too Large")


async def _body(headers: list[tuple[str, str]], receive: Receive) -> bytes:
    """The request's body, refused (413) beyond API Gateway's payload limit before it is all read.
    The parser has already refused a malformed or conflicting Content-Length."""
    declared = next((int(value) for name, value in headers if name == "content-length"), 0)
    if declared > MAX_BODY_BYTES:
        raise _Refused(413, "Request Entity Too Large")
    chunks, size = [], 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), BODY_TIMEOUT)
        except TimeoutError:
            raise _Refused(408, "Request Timeout") from None
        if message["type"] == "http.disconnect":
            raise _Refused(400, "Bad Request")  # nobody reads the answer
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:  # chunked: no length declared
            raise _Refused(413, "Request Entity Too Large")
        if not message.get("more_body"):
            return b"".join(chunks)


@dataclass
class GatewayServer:
    """A running gateway: ``server_address``, and ``shutdown()`` to stop it."""

    server_address: tuple[str, int]
    _loop: asyncio.AbstractEventLoop
    _stopping: asyncio.Event
    _thread: threading.Thread

    def shutdown(self, timeout: float = 5) -> None:
        """Stop accepting, let requests in flight finish (up to a second), close the socket; wait
        for that up to ``timeout`` seconds."""
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=timeout)


def serve(gateway: Gateway, host: str, port: int) -> GatewayServer:
    """Start serving ``gateway`` with Hypercorn in a daemon thread (port 0: a free one).

    The port is bound here, so that a port in use raises ``OSError`` in the caller."""
    listener = socket.create_server((host, port))
    address = listener.getsockname()[:2]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # Hypercorn's to close
    config.keep_alive_timeout = IDLE_TIMEOUT
    # Not Hypercorn's read_timeout: it also runs while a request is handled, and after a handler
    # slower than it the connection reads nothing more (its next request is never answered).
    config.h11_max_incomplete_size = PARSER_HEAD_LIMIT
    config.graceful_timeout = 1.0
    config.accesslog = None  # every request is logged once, by GatewayApp
    config.errorlog = logging.getLogger("devtools.local.gateway.server")
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    app = GatewayApp(gateway)

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(hypercorn_serve(app, config, shutdown_trigger=stopping.wait))
        finally:
            app.threads.shutdown(wait=False, cancel_futures=True)
            loop.close()

    thread = threading.Thread(target=run, name="gateway", daemon=True)
    thread.start()
    return GatewayServer(address, loop, stopping, thread)
