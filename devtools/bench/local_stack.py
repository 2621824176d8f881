"""The local stack: seconds from ``make dev`` to ``/health`` = 200 (target under 5 s); requests per
second and p50/p99 through the local gateway against serverless-offline serving the same function
on the same backend, under a bounded sequential load from a second process, for a trivial handler
(the gateway's own overhead; target at least 5x serverless-offline's throughput) and for the real
``GET /users/{id}``; the p50 time from ``POST /users`` to the welcome notification recorded; and
requests per second with p50/p99 of ``GET /users/{id}`` from 1 and from 25 clients at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devtools.bench.table import Table, Timings, ms, verdict, verdict_at_least
from devtools.emulator.apigw import Route
from devtools.emulator.jwt_local import SigningKey, authorizers, token_for
from devtools.emulator.lambda_runtime import functions
from devtools.local.gateway import Gateway, serve
from devtools.local.stack import Endpoints, aws_environment
from devtools.template import ROOT, Stacks
from shared.events.envelope import new_id

HOST = "127.0.0.1"
START_TARGET = 5.0  # seconds
THROUGHPUT_TARGET = 5.0  # x serverless-offline's, for the trivial handler
REQUESTS = 200  # per round of load
CLIENTS = (1, 25)  # at once, sharing a round's requests
OSLS = ROOT / "node_modules" / ".bin" / "osls"
OFFLINE_PLUGIN = ROOT / "node_modules" / "serverless-offline"
JSON = {"Content-Type": "application/json"}
TRIVIAL = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"

_FLOOR = """
import http.server, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
_LOAD = """
import json, socket, sys, time
# A raw keep-alive client: http.client spends about as long per request as the gateway does, which
# would make the client, not the server, the thing measured.
host, port, path, count, headers = sys.argv[1:]
count, headers = int(count), json.loads(headers)
lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"] + [f"{k}: {v}" for k, v in headers.items()]
request = ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode()
connection = socket.create_connection((host, int(port)), timeout=30)
connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buffer = b""

def read_until(marker):
    global buffer
    while marker not in buffer:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buffer += chunk
    head, _, buffer = buffer.partition(marker)
    return head

def read_exactly(size):
    global buffer
    while len(buffer) < size:
        buffer += connection.recv(65536)
    data, buffer = buffer[:size], buffer[size:]
    return data

def response():
    head = read_until(b"\\r\\n\\r\\n").decode("latin-1").split("\\r\\n")
    status = int(head[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        while size := int(read_until(b"\\r\\n"), 16):
            read_exactly(size + 2)
        read_until(b"\\r\\n")
    else:
        read_exactly(int(fields.get("content-length", 0)))
    return status

latencies, failures = [], 0
started = time.perf_counter()
for _ in range(count):
    begin = time.perf_counter()
    connection.sendall(request)
    status = response()
    latencies.append(time.perf_counter() - begin)
    failures += status != 200
print(json.dumps({"elapsed": time.perf_counter() - started, "latencies": latencies, "failures": failures}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def _process(args: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child process in its own process group, stopped (SIGTERM, then SIGKILL) on exit."""
    with open(log, "w") as output:
        child = subprocess.Popen(  # noqa: S603 - our own commands
            args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield child
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


def _status(url: str, *, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _json(url: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def until(condition: Any, timeout: float, poll: float = 0.02) -> float:
    """Seconds until ``condition()`` holds; TimeoutError after ``timeout``."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"not reached within {timeout:.0f} s")
        time.sleep(poll)
    return time.perf_counter() - started


def _concurrent_load(
    port: int, path: str, headers: dict[str, str], clients: int, count: int
) -> tuple[float, list[float], int]:
    """(requests per second, latencies, failures) of ``clients`` processes each sending ``count``
    sequential requests at once."""
    args = [sys.executable, "-c", _LOAD, HOST, str(port), path, str(count), json.dumps(headers)]
    started = time.perf_counter()
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(clients)]  # noqa: S603
    results = [json.loads(child.communicate(timeout=300)[0]) for child in children]
    elapsed = time.perf_counter() - started
    latencies = [latency for result in results for latency in result["latencies"]]
    return len(latencies) / elapsed, latencies, sum(result["failures"] for result in results)


def _load(port: int, path: str, headers: dict[str, str], count: int) -> tuple[float, list[float], int]:
    """(requests per second, latencies, failures) of ``count`` sequential requests from a second process."""
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _LOAD, HOST, str(port), path, str(count), json.dumps(headers)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result = json.loads(run.stdout)
    return count / result["elapsed"], result["latencies"], result["failures"]


# -- serverless-offline -----------------------------------------------------------------------------


def _offline_service(
    folder: Path, route_key: str, handler: str, environment: dict[str, str], authorizer: dict[str, Any] | None
) -> Path:
    """A serverless.yml (JSON is YAML) serving ``handler`` on ``route_key`` with serverless-offline."""
    method, path = route_key.split(" ", 1)
    event: dict[str, Any] = {"method": method, "path": path}
    provider: dict[str, Any] = {
        "name": "aws",
        "runtime": "python3.13",
        "region": "us-east-1",
        "environment": environment,
    }
    if authorizer:
        event["authorizer"] = {"name": "jwt"}
        provider["httpApi"] = {"authorizers": {"jwt": authorizer}}
    config = {
        "service": "bench-offline",
        "frameworkVersion": ">=3",
        "plugins": ["serverless-offline"],
        "provider": provider,
        "functions": {"api": {"handler": handler, "events": [{"httpApi": event}]}},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serverless.yml").write_text(json.dumps(config, indent=2))
    (folder / "node_modules").symlink_to(ROOT / "node_modules")
    return folder


@contextmanager
def _offline(folder: Path, env: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    args = [
        str(OSLS),
        "offline",
        "start",
        "--host",
        HOST,
        "--httpPort",
        str(port),
        "--lambdaPort",
        str(_free_port()),
        "--noTimeout",
        "--ignoreJWTSignature",  # its only way to run a JWT authorizer
    ]
    env = env | {"VIRTUAL_ENV": str(ROOT / ".venv"), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    with _process(args, cwd=folder, env=env, log=folder / "offline.log"):
        until(lambda: _status(f"http://{HOST}:{port}/__bench_ready") == 404, timeout=60, poll=0.1)
        yield port


# -- the measurements -------------------------------------------------------------------------------


def _start_times(repeat: int, scratch: Path) -> Table:
    table = Table(
        f"Local stack start, to /health = 200 (s, {repeat} starts)",
        [
            "measurement",
            "baseline min",
            "baseline median",
            "min",
            "median",
            "ratio (median)",
            f"target {START_TARGET:.0f} s",
        ],
    )
    floor, stack = [], []
    for _ in range(repeat):
        port = _free_port()
        with _process(
            [sys.executable, "-c", _FLOOR, str(port)],
            cwd=ROOT,
            env=dict(os.environ),
            log=scratch / "floor.log",
        ):
            floor.append(until(lambda port=port: _status(f"http://{HOST}:{port}/health") == 200, 30))
        endpoints = Endpoints(_free_port(), _free_port())
        env = _stack_environment(endpoints, scratch)
        with _process(["make", "--no-print-directory", "dev"], cwd=ROOT, env=env, log=scratch / "stack.log"):
            stack.append(until(lambda e=endpoints: _status(f"{e.api}/health") == 200, 120))
    base, timed = Timings(tuple(floor)), Timings(tuple(stack))
    table.add(
        "`make dev` (installed, packaged)",
        f"{base.min:.2f}",
        f"{base.median:.2f}",
        f"{timed.min:.2f}",
        f"{timed.median:.2f}",
        f"{timed.median / base.median:.1f}x",
        verdict(timed.median, START_TARGET),
    )
    table.notes.append(
        "Baseline: a bare Python HTTP server answering /health, started and polled the same way."
    )
    return table


@contextmanager
def _trivial_gateway() -> Iterator[int]:
    """The local gateway (devtools.local.gateway) serving one route whose handler does nothing."""
    route = Route("bench", "GET /ping", "Ping", None, re.compile("^/ping$"))
    gateway = Gateway(
        routes=[route],
        authorizers={},
        key=SigningKey.load_or_create(),
        invoke=lambda function, event: {"statusCode": 200, "body": "ok"},
        function_names={("bench", "Ping"): "ping"},
    )
    gateway.ready.set()
    port = _free_port()
    server = serve(gateway, HOST, port)
    try:
        yield port
    finally:
        server.shutdown()


def _compare(
    table: Table,
    handler: str,
    servers: dict[str, tuple[int, str, dict[str, str]]],
    repeat: int,
    target: float | None,
) -> None:
    """Rounds of load on each server in turn; one row per server, throughput set against offline's."""
    rates: dict[str, list[float]] = {name: [] for name in servers}
    latencies: dict[str, list[float]] = {name: [] for name in servers}
    failures = 0
    for port, path, headers in servers.values():
        _load(port, path, headers, 20)  # warm: imports, first connections
    for _ in range(repeat):
        for name, (port, path, headers) in servers.items():
            rate, times, failed = _load(port, path, headers, REQUESTS)
            rates[name].append(rate)
            latencies[name] += times
            failures += failed
    offline = Timings(tuple(rates["serverless-offline"])).median
    for name in servers:
        rate, times = Timings(tuple(rates[name])), Timings(tuple(latencies[name]))
        ratio = rate.median / offline
        goal = "-" if target is None or name == "serverless-offline" else verdict_at_least(ratio, target)
        table.add(
            handler,
            name,
            f"{rate.min:.0f}",
            f"{rate.median:.0f}",
            ms(times.median),
            ms(times.p99),
            f"{ratio:.2f}x",
            goal,
        )
    if failures:
        table.notes.append(f"{handler}: {failures} response(s) were not 200")


def _welcome_latency(table: Table, api: str, stacks: Stacks, key: SigningKey, repeat: int) -> None:
    requests, notified = [], []
    for _ in range(repeat):
        user = new_id()
        headers = {
            "Authorization": f"Bearer {token_for(stacks, key, user)}",
            "Content-Type": "application/json",
        }
        started = time.perf_counter()
        status = _status(
            f"{api}/users",
            method="POST",
            body={"email": f"{user.lower()}@example.com", "name": "Bench"},
            headers=headers,
        )
        requests.append(time.perf_counter() - started)
        if status != 201:
            raise RuntimeError(f"POST /users answered {status}")
        url = f"{api}/users/{user}/notifications"
        until(lambda url=url, headers=headers: bool(_json(url, headers)["notifications"]), timeout=30)
        notified.append(time.perf_counter() - started)
    base, timed = Timings(tuple(requests)), Timings(tuple(notified))
    table.add(
        "POST /users → welcome notification recorded",
        ms(base.min),
        ms(base.median),
        ms(timed.min),
        ms(timed.median),
        f"{timed.median / base.median:.1f}x",
    )


def _stack_environment(endpoints: Endpoints, scratch: Path) -> dict[str, str]:
    """``make dev``'s environment on ``endpoints``, with a state directory of its own: the bench
    neither starts from, nor adds to, the data a developer's stack keeps in ``.local-stack/``."""
    ports = {"API_PORT": str(endpoints.api_port), "AWS_PORT": str(endpoints.aws_port)}
    return dict(os.environ) | ports | {"LOCAL_STACK_DIR": str(stack_state_dir(scratch))}


def stack_state_dir(scratch: Path) -> Path:
    return scratch / "local-stack"


@contextmanager
def running_stack(scratch: Path, *, fresh: bool = False) -> Iterator[tuple[Endpoints, subprocess.Popen]]:
    """``make dev`` (``FRESH=1`` if ``fresh``) on free ports, and its process, the leader of the
    stack's session; stopped on exit."""
    endpoints = Endpoints(_free_port(), _free_port())
    env = _stack_environment(endpoints, scratch) | ({"FRESH": "1"} if fresh else {})
    with _process(
        ["make", "--no-print-directory", "dev"], cwd=ROOT, env=env, log=scratch / "stack.log"
    ) as process:
        until(lambda: _status(f"{endpoints.api}/health") == 200, 120)
        yield endpoints, process


def _trivial_comparison(table: Table, repeat: int, scratch: Path) -> None:
    folder = _offline_service(scratch / "trivial", "GET /ping", "handler.handler", {}, None)
    (folder / "handler.py").write_text(TRIVIAL)
    with _trivial_gateway() as gateway_port, _offline(folder, dict(os.environ)) as offline_port:
        servers = {
            "local gateway": (gateway_port, "/ping", {}),
            "serverless-offline": (offline_port, "/ping", {}),
        }
        _compare(table, "trivial", servers, repeat, THROUGHPUT_TARGET)


def _users_comparison(table: Table, endpoints: Endpoints, repeat: int, scratch: Path) -> None:
    """GET /users/{id} of one user, through the stack's gateway and through serverless-offline
    running the users API handler against the stack's moto."""
    stacks, key, user = Stacks(), SigningKey.load_or_create(stack_state_dir(scratch)), new_id()
    headers = {"Authorization": f"Bearer {token_for(stacks, key, user)}"}
    body = {"email": f"{user.lower()}@example.com", "name": "Bench"}
    if _status(f"{endpoints.api}/users", method="POST", body=body, headers=headers | JSON) != 201:
        raise RuntimeError("POST /users did not answer 201")
    spec = functions(stacks)["shop-users-dev-api"]
    jwt = next(a for (service, _), a in authorizers(stacks).items() if service == "users")
    authorizer = {
        "identitySource": "$request.header.Authorization",
        "issuerUrl": jwt.issuer,
        "audience": list(jwt.audiences),
    }
    # What the local stack gives its handlers (devtools.local.stack), so both run the same code the same way.
    environment = (
        spec.environment
        | aws_environment(endpoints)
        | {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    )
    folder = _offline_service(scratch / "users", "GET /users/{id}", spec.handler, environment, authorizer)
    (folder / "users").symlink_to(ROOT / "services" / "users" / "src" / "users")
    (folder / "shared").symlink_to(ROOT / "shared")
    with _offline(folder, dict(os.environ)) as offline_port:
        servers = {
            "local gateway": (endpoints.api_port, f"/users/{user}", headers),
            "serverless-offline": (offline_port, f"/users/{user}", headers),
        }
        _compare(table, "GET /users/{id}", servers, repeat, None)


def _clients(table: Table, endpoints: Endpoints, repeat: int, key: SigningKey) -> None:
    """GET /users/{id} through the stack from 1 and from 25 clients at once."""
    stacks, user = Stacks(), new_id()
    headers = {"Authorization": f"Bearer {token_for(stacks, key, user)}"}
    body = {"email": f"{user.lower()}@example.com", "name": "Bench"}
    if _status(f"{endpoints.api}/users", method="POST", body=body, headers=headers | JSON) != 201:
        raise RuntimeError("POST /users did not answer 201")
    for clients in CLIENTS:
        rates, latencies, failures = [], [], 0
        for _ in range(repeat):
            rate, times, failed = _concurrent_load(
                endpoints.api_port, f"/users/{user}", headers, clients, REQUESTS // clients
            )
            rates.append(rate)
            latencies += times
            failures += failed
        rate, times = Timings(tuple(rates)), Timings(tuple(latencies))
        table.add(
            str(clients),
            f"{rate.min:.0f}",
            f"{rate.median:.0f}",
            ms(times.median),
            ms(times.p99),
            str(failures),
        )


def run(repeat: int) -> list[Table]:
    repeat = min(repeat, 3)  # each round is hundreds of requests, each start seconds
    load = Table(
        f"Through the local gateway and serverless-offline ({REQUESTS} sequential keep-alive requests "
        f"x {repeat} rounds, from a second process)",
        [
            "handler",
            "server",
            "req/s min",
            "req/s median",
            "p50 ms",
            "p99 ms",
            "throughput vs offline",
            f"target {THROUGHPUT_TARGET:.0f}x",
        ],
    )
    flow = Table(
        f"Event flow through the local stack (ms, {repeat} new users)",
        ["measurement", "baseline min (the POST)", "baseline median", "min", "median", "ratio (median)"],
    )
    concurrency = Table(
        f"GET /users/{{id}} through the local stack, {REQUESTS} keep-alive requests per round shared by "
        f"the clients (each a process), x {repeat} rounds",
        ["clients", "req/s min", "req/s median", "p50 ms", "p99 ms", "not 200"],
    )
    concurrency.notes.append(
        "The stack runs one handler at a time (docs/local-stack.md): more clients queue, so p50 grows "
        "with them and throughput does not; on a 2-core machine the clients compete with the stack."
    )
    load.notes.append(
        "Both serve the same function on the same moto backend (the local stack's); "
        "serverless-offline 13.10.1 runs the handler in a persistent Python process and, with "
        "--ignoreJWTSignature (its only JWT mode), decodes the token without checking its signature."
    )
    with tempfile.TemporaryDirectory(prefix="bench-local-stack-") as folder:
        scratch = Path(folder)
        start = _start_times(repeat, scratch)
        if not OFFLINE_PLUGIN.exists():
            load.skip("serverless-offline", "not installed (make install)")
        else:
            _trivial_comparison(load, repeat, scratch)
        with running_stack(scratch) as (endpoints, _):
            key = SigningKey.load_or_create(stack_state_dir(scratch))  # the one that stack trusts
            _welcome_latency(flow, endpoints.api, Stacks(), key, repeat)
            _clients(concurrency, endpoints, repeat, key)
            if OFFLINE_PLUGIN.exists():
                _users_comparison(load, endpoints, repeat, scratch)
    return [start, load, flow, concurrency]
