"""One local HTTP endpoint for every service's HTTP API routes, behaving as API Gateway does.

Per request: match the route (exact paths before parameterised ones), run the route's JWT
authorizer (401 ``{"message":"Unauthorized"}`` otherwise), hand the integrated function an HTTP
API v2 event with the claims in ``requestContext.authorizer.jwt.claims``, and turn what it
returns into the HTTP response with the payload format 2.0 rules. No route gives 404
``{"message":"Not Found"}``; a handler that raises or returns garbage gives 500
``{"message":"Internal Server Error"}`` with the trace in the log, never in the response.
``/docs`` (Swagger UI) and ``/openapi/<service>.json`` are served without a token (``devtools.api_docs``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import string
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from devtools import api_docs
from devtools.apigw import Route, http_event, match
from devtools.jwt_local import InvalidToken, JwtAuthorizer, SigningKey, authorizer_claims, validate
from shared.http import CORRELATION_HEADER

log = logging.getLogger("devtools.gateway")

# RFC 3986 pchar: what a path segment may hold as it is, so decoding it moves no segment boundary.
_SEGMENT_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")

Invoke = Callable[[str, dict[str, Any]], Any]  # (function name, event) -> what the handler returned
HEALTH_PATH = "/health"
MAX_HEADER_FIELDS = 100  # http.client's limits
MAX_LINE_BYTES = 65536


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


class _BadHeaders(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Headers:
    """A request's header fields in order, looked up by name whatever its case (the first wins)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


def _header_fields(rfile: Any) -> list[tuple[str, str]]:
    """The header block, ``name: value`` lines up to the empty one, with http.client's limits.
    http.server reads it with the e-mail parser, a quarter of the gateway's time per request."""
    fields: list[tuple[str, str]] = []
    while True:
        line = rfile.readline(MAX_LINE_BYTES + 1)
        if len(line) > MAX_LINE_BYTES:
            raise _BadHeaders(431, "Header line too long")
        if line in (b"\r\n", b"\n", b""):
            return fields
        if len(fields) == MAX_HEADER_FIELDS:
            raise _BadHeaders(431, "Too many headers")
        name, colon, value = line.decode("iso-8859-1").partition(":")
        # No space before the colon, no folded continuation line (RFC 9112 lets a server refuse both).
        if not colon or not name or name != name.strip():
            raise _BadHeaders(400, "Bad header line")
        fields.append((name, value.strip()))


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving ``gateway`` in a daemon thread; the caller stops it with ``shutdown()``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the second waits for the client's
        # delayed ACK (~40 ms a response on Linux).
        disable_nagle_algorithm = True

        def _any(self) -> None:
            started = time.perf_counter()
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = gateway.handle(self.command, self.path, list(self.headers.items()), body)
            self.send_response(reply.status)
            for name, value in reply.headers:
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            if urlsplit(self.path).path != HEALTH_PATH:
                log.info(
                    "%s %s %d %.0f ms correlation_id=%s",
                    self.command,
                    self.path,
                    reply.status,
                    (time.perf_counter() - started) * 1000,
                    reply.header(CORRELATION_HEADER) or "-",
                )

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _any

        def parse_request(self) -> bool:
            """The base class's, for HTTP/1.0 and 1.1, with the header block read by
            ``_header_fields``: requests per second rose by a quarter."""
            # Errors answer as HTTP/1.1 (the base class would answer a bare body, as to HTTP/0.9).
            self.command, self.request_version = None, "HTTP/1.1"
            self.close_connection = True
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            words = self.requestline.split()
            if not words:
                return False
            if len(words) != 3:
                self.send_error(400, f"Bad request syntax ({self.requestline!r})")
                return False
            command, path, version = words
            if version not in ("HTTP/1.0", "HTTP/1.1"):
                status = 505 if version.startswith("HTTP/") else 400
                self.send_error(status, f"Unsupported version {version!r}")
                return False
            self.command, self.request_version = command, version
            # As the base class: '//x' could read as a host to a client that follows it.
            self.path = "/" + path.lstrip("/") if path.startswith("//") else path
            try:
                self.headers = _Headers(_header_fields(self.rfile))
            except _BadHeaders as error:
                self.send_error(error.status, str(error))
                return False
            connection = (self.headers.get("connection") or "").lower()
            self.close_connection = connection == "close" or (
                version == "HTTP/1.0" and connection != "keep-alive"
            )
            if (self.headers.get("expect") or "").lower() == "100-continue" and version == "HTTP/1.1":
                return self.handle_expect_100()
            return True

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, PROPFIND...) is routed too: API Gateway answers 404, not 501.
            if name.startswith("do_"):
                return self._any
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # every request is logged once, by _any

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is no news
                log.exception("gateway failed on a request from %s", client_address)

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
    return server
