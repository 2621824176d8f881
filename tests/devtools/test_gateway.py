"""The local gateway answers as API Gateway's HTTP API does, and hands handlers its v2 events."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest

from devtools.emulator.apigw import Route
from devtools.emulator.jwt_local import JwtAuthorizer, SigningKey, mint
from devtools.local import gateway as gateway_module
from devtools.local.gateway import Gateway, Reply, serve

ISSUER = "https://issuer.example"
AUTHORIZER = JwtAuthorizer(issuer=ISSUER, audiences=("client",), identity_header="authorization")
ROUTES = [
    Route("users", "GET /users/{id}", "ApiFunction", "Jwt", re.compile(r"^/users/(?P<id>[^/]+)$")),
    Route("users", "GET /users/me", "ApiFunction", "Jwt", re.compile(r"^/users/me$")),
    Route("open", "POST /ping", "PingFunction", None, re.compile(r"^/ping$")),
]


class Handlers:
    """Stands for the invoked functions: records each event, answers what the test set."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.result: Any = {"statusCode": 200, "body": "{}"}

    def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.events.append((function, event))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("key"))


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
def gateway(key: SigningKey, handlers: Handlers) -> Gateway:
    gateway = Gateway(
        routes=ROUTES,
        authorizers={("users", "Jwt"): AUTHORIZER},
        key=key,
        invoke=handlers,
        function_names={("users", "ApiFunction"): "shop-users-dev-api", ("open", "PingFunction"): "ping"},
    )
    gateway.ready.set()
    return gateway


def _json(reply: Reply) -> Any:
    return json.loads(reply.body)


def _bearer(key: SigningKey, **options: Any) -> list[tuple[str, str]]:
    return [("Authorization", "Bearer " + mint(key, "u1", issuer=ISSUER, audience="client", **options))]


def test_health_answers_503_until_the_stack_is_wired(gateway: Gateway) -> None:
    gateway.ready.clear()
    assert gateway.handle("GET", "/health", [], b"").status == 503

    gateway.ready.set()
    assert gateway.handle("GET", "/health", [], b"").status == 200


def test_a_request_no_route_matches_gets_404(gateway: Gateway, handlers: Handlers) -> None:
    for method, path in (("GET", "/nothing"), ("DELETE", "/users/u1")):
        reply = gateway.handle(method, path, [], b"")
        assert (reply.status, _json(reply)) == (404, {"message": "Not Found"})
    assert handlers.events == []


def test_a_protected_route_without_a_valid_token_gets_401(
    gateway: Gateway, handlers: Handlers, key: SigningKey
) -> None:
    missing = gateway.handle("GET", "/users/u1", [], b"")
    expired = gateway.handle("GET", "/users/u1", _bearer(key, now=0), b"")

    assert (missing.status, _json(missing)) == (401, {"message": "Unauthorized"})
    assert missing.header("www-authenticate") is None
    assert (expired.status, _json(expired)) == (401, {"message": "Unauthorized"})
    assert 'error="invalid_token"' in expired.header("www-authenticate")
    assert handlers.events == []


def test_the_handler_gets_an_http_api_v2_event_with_the_claims_as_strings(
    gateway: Gateway, handlers: Handlers, key: SigningKey
) -> None:
    headers = [*_bearer(key, groups=("admin", "ops")), ("X-Tag", "a"), ("x-tag", "b"), ("Cookie", "s=1; t=2")]

    gateway.handle("GET", "/users/u%401?limit=5&x=1&x=2", headers, b"")

    ((function, event),) = handlers.events
    assert function == "shop-users-dev-api"
    assert event["routeKey"] == "GET /users/{id}"
    assert event["rawPath"] == "/users/u@1"
    assert event["pathParameters"] == {"id": "u@1"}
    assert event["queryStringParameters"] == {"limit": "5", "x": "1,2"}
    assert event["headers"]["x-tag"] == "a,b"
    assert event["cookies"] == ["s=1", "t=2"]
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "u1"
    assert claims["cognito:groups"] == "[admin ops]"
    assert isinstance(claims["exp"], str)


def test_the_handler_gets_the_path_decoded_where_that_moves_no_segment(
    gateway: Gateway, handlers: Handlers, key: SigningKey
) -> None:
    # Found by schemathesis: Powertools reads path parameters from rawPath, so an id holding ":" sent
    # as %3A reached the handler still encoded and failed the id's pattern (422 for a valid id).
    gateway.handle("GET", "/users/a%3Ab%40c%2Fd%00", _bearer(key), b"")

    ((_, event),) = handlers.events
    assert event["rawPath"] == "/users/a:b@c%2Fd%00"
    assert event["pathParameters"] == {"id": "a:b@c/d\x00"}


def test_exact_paths_win_over_parameterised_ones(
    gateway: Gateway, handlers: Handlers, key: SigningKey
) -> None:
    gateway.handle("GET", "/users/me", _bearer(key), b"")

    assert handlers.events[0][1]["routeKey"] == "GET /users/me"


def test_an_open_route_takes_no_token_and_passes_the_body(gateway: Gateway, handlers: Handlers) -> None:
    gateway.handle("POST", "/ping", [("Content-Type", "application/json")], b'{"a": 1}')

    event = handlers.events[0][1]
    assert event["body"] == '{"a": 1}'
    assert "authorizer" not in event["requestContext"]


def test_a_handler_that_raises_gets_the_generic_500_and_the_trace_in_the_log(
    gateway: Gateway, handlers: Handlers, caplog: pytest.LogCaptureFixture
) -> None:
    handlers.result = RuntimeError("boom at line 7")

    reply = gateway.handle("POST", "/ping", [], b"")

    assert (reply.status, _json(reply)) == (500, {"message": "Internal Server Error"})
    assert "boom" not in reply.body.decode()
    assert "RuntimeError: boom at line 7" in caplog.text


@pytest.mark.parametrize(
    ("result", "status", "body", "headers"),
    [
        (
            {"statusCode": 201, "headers": {"Location": "/x"}, "body": "made", "cookies": ["a=1", "b=2"]},
            201,
            b"made",
            [("Location", "/x"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
        ),
        (
            {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True},
            200,
            b"\x00\x01",
            [],
        ),
        (
            {"message": "no statusCode"},
            200,
            b'{"message": "no statusCode"}',
            [("content-type", "application/json")],
        ),
        ("plain", 200, b"plain", [("content-type", "application/json")]),
        (
            {"statusCode": "200"},
            500,
            b'{"message": "Internal Server Error"}',
            [("content-type", "application/json")],
        ),
    ],
)
def test_what_a_handler_returns_becomes_the_response_as_payload_format_2(
    gateway: Gateway, handlers: Handlers, result: Any, status: int, body: bytes, headers: list
) -> None:
    handlers.result = result

    reply = gateway.handle("POST", "/ping", [], b"")

    assert (reply.status, reply.body) == (status, body)
    assert reply.headers[: len(headers)] == headers


def test_the_correlation_id_is_the_handlers_or_else_the_requests(
    gateway: Gateway, handlers: Handlers
) -> None:
    handlers.result = {"statusCode": 200, "headers": {"x-correlation-id": "from-handler"}}
    assert gateway.handle("POST", "/ping", [], b"").header("x-correlation-id") == "from-handler"

    handlers.result = {"statusCode": 200}
    reply = gateway.handle("POST", "/ping", [("X-Correlation-Id", "from-client")], b"")
    assert reply.header("x-correlation-id") == "from-client"


def test_the_signing_key_file_is_the_only_trust_anchor(
    tmp_path: Path, gateway: Gateway, handlers: Handlers
) -> None:
    stranger = SigningKey.load_or_create(tmp_path)

    reply = gateway.handle("GET", "/users/u1", _bearer(stranger), b"")

    assert reply.status == 401
    assert handlers.events == []


# -- over HTTP: the gateway's own reading of requests (devtools.local.gateway.serve) ---------------------


@pytest.fixture
def server(gateway: Gateway) -> Any:
    served = serve(gateway, "127.0.0.1", 0)
    yield served.server_address
    served.shutdown()


def _exchange(address: Any, raw: bytes, *, responses: int = 1) -> tuple[list[bytes], bool]:
    """Send ``raw`` on one connection; the responses read, and whether the server then closed it."""
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall(raw)
        stream = connection.makefile("rb")
        replies = []
        for _ in range(responses):
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += stream.readline()
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            replies.append(head + stream.read(length))
        connection.settimeout(0.5)
        try:
            closed = stream.read(1) == b""
        except TimeoutError:
            closed = False
        return replies, closed


def test_a_keep_alive_connection_carries_requests_with_their_headers_and_bodies(server, handlers):
    first = b"POST /ping HTTP/1.1\r\nHost: x\r\nX-Trace: a\r\nx-trace: b\r\nContent-Length: 4\r\n\r\nping"
    second = b"POST /ping HTTP/1.1\r\nHOST: x\r\ncontent-length: 0\r\n\r\n"

    replies, closed = _exchange(server, first + second, responses=2)

    assert [reply.split(b" ", 2)[1] for reply in replies] == [b"200", b"200"]
    assert not closed
    [(_, event), _] = handlers.events
    assert base64.b64decode(event["body"]) == b"ping" if event["isBase64Encoded"] else event["body"] == "ping"
    assert event["headers"]["x-trace"] == "a,b"  # repeated fields joined, as API Gateway does


@pytest.mark.parametrize(
    ("request_head", "closes"),
    [
        (b"POST /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"POST /ping HTTP/1.0\r\nContent-Length: 0\r\n\r\n", True),
        # HTTP/1.0 keep-alive is optional (RFC 9112 9.3); h11 closes.
        (b"POST /ping HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", False),
    ],
    ids=["1.1 close", "1.0", "1.0 keep-alive", "1.1"],
)
def test_the_connection_closes_when_the_request_says_so(server, request_head, closes):
    replies, closed = _exchange(server, request_head)

    assert replies[0].startswith(b"HTTP/1.1 200")
    assert closed is closes


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /ping\r\n\r\n", b"400"),
        (b"GET /ping SPDY/3\r\nHost: x\r\n\r\n", b"400"),
        (b"GET /ping HTTP/1.1\r\n\r\n", b"400"),  # RFC 9112 3.2: Host is mandatory in 1.1
        (b"GET /ping HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", b"400"),
        (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Long : spaced\r\n\r\n", b"400"),
        (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 11000 + b"\r\n\r\n", b"431"),
        (b"GET /ping HTTP/1.1\r\nHost: x\r\n" + b"X-N: nnnnnnnn\r\n" * 1300 + b"\r\n", b"431"),
        (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 70000 + b"\r\n\r\n", b"431"),
    ],
    ids=[
        "no version",
        "not HTTP",
        "no Host",
        "no colon",
        "space before colon",
        "a value over API Gateway's 10 KiB",
        "values over 10 KiB together",
        "over the parser's limit",
    ],
)
def test_a_malformed_request_head_gets_its_4xx_and_the_connection_closes(server, handlers, raw, status):
    replies, closed = _exchange(server, raw)

    assert replies[0].split(b" ", 2)[1] == status
    assert closed
    assert handlers.events == []


def test_a_folded_header_line_is_unfolded_and_any_http_1_version_answered_as_1_1(server, handlers):
    # RFC 9112 5.2 lets a server replace an obs-fold with a space instead of refusing it (h11 does).
    raw = b"POST /ping HTTP/1.9\r\nHost: x\r\nX-A: one\r\n folded\r\nContent-Length: 0\r\n\r\n"

    replies, _ = _exchange(server, raw)

    assert replies[0].startswith(b"HTTP/1.1 200 ")
    assert handlers.events[0][1]["headers"]["x-a"] == "one folded"


SMUGGLED = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("framing", "body", "status"),
    [
        (b"Content-Length: 4\r\nContent-Length: 0", b"", b"400"),
        (b"Content-Length: 0, 4", b"", b"400"),
        (b"Content-Length: 4\r\nTransfer-Encoding: chunked", b"0\r\n\r\n", b"400"),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 4", b"0\r\n\r\n", b"400"),
        (b"Transfer-Encoding: gzip, chunked", b"0\r\n\r\n", b"501"),
        (b"Content-Length: -5", b"", b"400"),
        (b"Content-Length: abc", b"", b"400"),
        (b"Content-Length: +4", b"", b"400"),
        (b"Content-Length: 1000000000000", b"", b"413"),
        (b"Content-Length: " + str(10 * 1024 * 1024 + 1).encode(), b"", b"413"),
    ],
    ids=[
        "two lengths",
        "a list of lengths",
        "length then chunked",
        "chunked then length",
        "unknown coding",
        "negative",
        "not a number",
        "signed",
        "10^12",
        "over 10 MiB",
    ],
)
def test_ambiguous_or_oversized_framing_is_refused_and_smuggles_nothing(
    server, handlers, framing, body, status
):
    raw = b"POST /ping HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n" + body + SMUGGLED

    replies, closed = _exchange(server, raw)

    assert replies[0].split(b" ", 2)[1] == status
    assert closed
    assert handlers.events == []  # neither the request nor the one hidden after it ran


def test_a_chunked_body_is_read_and_one_over_10_mib_refused(server, handlers):
    chunked = b"POST /ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    replies, _ = _exchange(server, chunked + b"4\r\nping\r\n0\r\n\r\n")
    assert replies[0].startswith(b"HTTP/1.1 200 ")
    assert handlers.events[0][1]["body"] == "ping"

    megabyte = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    replies, closed = _exchange(server, chunked + megabyte * 11 + b"0\r\n\r\n")
    assert replies[0].startswith(b"HTTP/1.1 413 ")
    assert closed
    assert len(handlers.events) == 1


@pytest.mark.parametrize(
    "sent", [b"", b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: "], ids=["nothing", "half a head"]
)
def test_a_stalled_client_is_disconnected(gateway, monkeypatch, sent):
    monkeypatch.setattr(gateway_module, "IDLE_TIMEOUT", 0.5)
    served = serve(gateway, "127.0.0.1", 0)
    try:
        with socket.create_connection(served.server_address, timeout=5) as connection:
            connection.sendall(sent)
            started = time.monotonic()
            answer = b""
            while chunk := connection.recv(1024):  # until the server closes (or 5 s: TimeoutError)
                answer += chunk
            assert time.monotonic() - started < 3
            assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
    finally:
        served.shutdown()


def test_a_stalled_body_gets_408_and_a_slow_handler_its_answer(gateway, handlers, monkeypatch):
    monkeypatch.setattr(gateway_module, "IDLE_TIMEOUT", 0.5)
    monkeypatch.setattr(gateway_module, "BODY_TIMEOUT", 0.5)
    served = serve(gateway, "127.0.0.1", 0)
    try:
        stalled = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"
        replies, closed = _exchange(served.server_address, stalled)
        assert (replies[0].split(b" ", 2)[1], closed) == (b"408", True)

        def slow(function: str, event: dict[str, Any]) -> Any:
            time.sleep(1.5)  # longer than every timeout of the connection
            return {"statusCode": 200, "body": "{}"}

        gateway.invoke = slow
        # Two in turn on one connection: the first's slowness must not cost the connection the second.
        connection = http.client.HTTPConnection(*served.server_address, timeout=5)
        statuses = []
        for _ in range(2):
            connection.request("POST", "/ping", body=b"")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        assert statuses == [200, 200]
    finally:
        served.shutdown()


def test_requests_are_served_concurrently(server, gateway):
    both_arrived = threading.Barrier(2, timeout=5)

    def handler(function: str, event: dict[str, Any]) -> Any:
        both_arrived.wait()  # each waits for the other: one at a time would time out
        return {"statusCode": 200, "body": "{}"}

    gateway.invoke = handler
    request = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: _exchange(server, request)[0][0], range(2)))

    assert [reply.split(b" ", 2)[1] for reply in replies] == [b"200", b"200"]


def _hostile_token(key: SigningKey, claims: dict[str, Any]) -> bytes:
    now = int(time.time())
    token = jwt.api_jws.encode(
        json.dumps({"sub": "u1", "iss": ISSUER, "exp": now + 60} | claims).encode(),
        key.private_key,
        algorithm="RS256",
        headers={"kid": key.key_id},
    )
    return token.encode()


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda key: _hostile_token(key, {"aud": {"client": 1}}), id="aud object"),
        pytest.param(lambda key: _hostile_token(key, {"aud": [["client"]]}), id="aud list of lists"),
        pytest.param(lambda key: _hostile_token(key, {"client_id": {"c": "client"}}), id="client_id object"),
        pytest.param(lambda key: _hostile_token(key, {"aud": "клиент\r\nX-Injected: 1"}), id="aud Cyrillic"),
        pytest.param(lambda key: _hostile_token(key, {"aud": "client", "exp": 1e400}), id="exp infinite"),
        pytest.param(lambda key: "Bearer ÿ\x80é".encode("latin-1"), id="not a token, not UTF-8"),
        pytest.param(lambda key: b"Bearer " + b"a" * 8000, id="long garbage"),
    ],
)
def test_a_hostile_token_gets_401_with_a_plain_ascii_reason_never_a_dropped_connection(
    server, handlers, key, credential
):
    token = credential(key).removeprefix(b"Bearer ")
    raw = b"GET /users/u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
    replies, _ = _exchange(server, raw + b"\r\nContent-Length: 0\r\n\r\n")

    head = replies[0].split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 401 ")
    assert head.isascii()
    assert b"\r\nX-Injected" not in head
    assert handlers.events == []


def test_claims_in_any_script_reach_the_handler_as_strings(server, handlers, key):
    token = _hostile_token(key, {"aud": ["client"], "sub": "名前-ü", "nickname": {"a": ["ü"]}})

    raw = b"GET /users/u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\r\n\r\n"
    replies, _ = _exchange(server, raw)

    assert replies[0].startswith(b"HTTP/1.1 200 ")
    claims = handlers.events[0][1]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "名前-ü"
    assert json.loads(claims["nickname"]) == {"a": ["ü"]}
