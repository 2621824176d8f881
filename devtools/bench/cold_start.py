"""Cold request per function: a fresh interpreter imports the handler from the unzipped package in a
read-only directory, with ``PYTHONDONTWRITEBYTECODE=1`` and the environment Lambda gives it, then
invokes it once with its sample event (``services/<x>/events/``) against an AWS endpoint: moto in
server mode on 127.0.0.1, provisioned from the packaged templates.

The floor, interleaved with it in the same run: a fresh interpreter on the same path that imports
boto3, creates the clients the function created and makes the AWS calls its first invocation made,
the same operations with the same parameters (found by a first, untimed run that records
``create_client`` and every API call). The endpoint is reset and provisioned again before every
run, so both sides meet the same state and get the same answers. A sample that acts on what another
sample creates (the fulfilment tasks' events name the order of ``process_intake.json``) is run on
that state: the AWS calls the other sample's first invocation made are replayed after each reset,
before either side runs. Target: at most 1.25x the floor for every function not on SnapStart; the
HTTP APIs (on SnapStart in prod) are shown for reference.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore import xform_name

from devtools.bench.packages import unpacked
from devtools.bench.table import Table, Timings, ms, verdict
from devtools.emulator.apigw import routes
from devtools.emulator.lambda_runtime import FunctionSpec, functions
from devtools.emulator.provision import provision
from devtools.local import aws_endpoint
from devtools.local.definitions import verify_senders
from devtools.local.stack import HOST
from devtools.template import REGION, ROOT, Stacks

TARGET = 1.25
# Samples that act on the state another sample of the same service leaves (the service's README
# says so for invoke local): that sample's AWS calls (after its own predecessor's) are replayed
# before they run. The intake's order is placed by a user whose profile copy exists.
PRECEDED_BY = {
    ("orders", "process_intake.json"): "sync_profiles.json",
    ("orders", "charge_payment.json"): "process_intake.json",
    ("orders", "confirm_order.json"): "process_intake.json",
    ("orders", "mark_failed.json"): "process_intake.json",
}

_PATH = "import sys\nsys.path[:0] = [{code!r}, {runtime!r}]\n"
# What Lambda's runtime has done before the handler's module is imported: its own modules (json)
# loaded, the event parsed, a context built. Outside the timing on both sides.
_INVOCATION = """
import json, time
event = json.loads({event!r})
class Context:
    function_name = {name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = {memory}
    invoked_function_arn = "arn:aws:lambda:{region}:123456789012:function:{name}"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/{name}"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return {timeout} * 1000
context = Context()
"""
_COLD_REQUEST = """
started = time.perf_counter()
import importlib
handler = getattr(importlib.import_module({module!r}), {attribute!r})
try:
    result = handler(event, context)
except Exception as error:
    result = {{"raised": type(error).__name__}}
elapsed = time.perf_counter() - started
"""
_TIMED = "print(json.dumps([elapsed, result], default=str))\n"
# The first run: every client created and every API call made, from the import to the response.
_RECORD = """
sys.path.append({root!r})
import os, pickle
import botocore.session
lambda_environment = dict(os.environ)
from devtools.bench.calls import CallRecorder
os.environ.clear()  # importing devtools.bench set the in-process benchmarks' variables
os.environ.update(lambda_environment)
created = []
original = botocore.session.Session.create_client
def create_client(self, service_name, *args, **kwargs):
    created.append(service_name)
    return original(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = create_client
recorder = CallRecorder()
with recorder.installed(), recorder.recording():
{cold_request}
def plain(value):  # the handler's own types (a str enum) are not on the floor's path
    if isinstance(value, dict):
        return {{plain(key): plain(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__index__(value)
    return value
with open({record!r}, "wb") as file:
    pickle.dump((created, [(c.service, c.operation, plain(c.params)) for c in recorder.calls]), file)
print(json.dumps([elapsed, result], default=str))
"""
_FLOOR = """
import pickle, time
with open({record!r}, "rb") as file:
    created, calls = pickle.load(file)
started = time.perf_counter()
import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
clients = {{}}
for name in created:  # as many clients as the handler built, a second of a kind included
    clients.setdefault(name, boto3.client(name))
for service, operation, params in calls:
    try:
        getattr(clients[service], xform_name(operation))(**params)
    except ClientError:
        pass  # the handler met the same error, on the same state
print(time.perf_counter() - started)
"""


def lambda_environment(spec: FunctionSpec, code: Path, runtime: Path, endpoint: str) -> dict[str, str]:
    """What the Python runtime sets for a function, then the function's own variables, with every
    SDK call sent to ``endpoint``."""
    return {
        "PATH": os.environ["PATH"],
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(code),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "_HANDLER": spec.handler,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ENDPOINT_URL": endpoint,
        # boto3 sends DynamoDB calls to an account-based host that moto does not know.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    } | spec.environment


def in_fresh_interpreter(script: str, env: dict[str, str]) -> Any:
    """The JSON of the script's last line."""
    # -S: no site-packages; the path is the package and the runtime's boto3, nothing else.
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    if run.returncode:
        raise RuntimeError(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed")
    return json.loads(run.stdout.strip().splitlines()[-1])


def sample_events(stacks: Stacks, spec: FunctionSpec) -> list[Path]:
    """The function's samples: an API's route samples, GET first; else those whose names start with
    the function's (``deliver_user_created.json`` for ``deliver``)."""
    samples = sorted((ROOT / "services" / spec.service / "events").glob("*.json"))
    keys = {r.route_key for r in routes(stacks) if (r.service, r.function) == (spec.service, spec.logical_id)}
    if keys:
        named = [(json.loads(path.read_text()).get("routeKey", ""), path) for path in samples]
        return [path for _, path in sorted((not k.startswith("GET "), p) for k, p in named if k in keys)]
    return [path for path in samples if path.stem.startswith(spec.short_name.replace("-", "_"))]


def clean(outcome: str) -> bool:
    return outcome in ("returned", "0 failed records") or outcome.startswith("HTTP 2")


def outcome(result: Any) -> str:
    """How the first invocation ended: an HTTP status, the failed records of a batch, an exception."""
    if isinstance(result, dict) and "statusCode" in result:
        return f"HTTP {result['statusCode']}"
    if isinstance(result, dict) and "batchItemFailures" in result:
        return f"{len(result['batchItemFailures'])} failed records"
    if isinstance(result, dict) and "raised" in result:
        return f"raised {result['raised']}"
    return "returned"


# An AWS call as recorded: the client's service name, the operation, its parameters.
RecordedCall = tuple[str, str, dict[str, Any]]


@dataclass
class Endpoint:
    """moto in server mode, put back to the packaged resources before each run."""

    stacks: Stacks
    url: str

    def reset(self, seed: Sequence[RecordedCall] = ()) -> None:
        """The packaged resources, empty, then the ``seed`` calls made on them."""
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310 - ours
        urllib.request.urlopen(reset).close()  # noqa: S310 - our own endpoint
        session = boto3.Session(region_name=REGION)
        provision(self.stacks, session, endpoint_url=self.url)
        verify_senders(session.client("ses", endpoint_url=self.url), functions(self.stacks))
        clients: dict[str, Any] = {}
        for service, operation, params in seed:
            client = clients.setdefault(service, session.client(service, endpoint_url=self.url))  # type: ignore[call-overload]
            getattr(client, xform_name(operation))(**params)


@contextmanager
def endpoint() -> Iterator[Endpoint]:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    url = f"http://{HOST}:{port}"
    stacks = Stacks(sqs_endpoint=url)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # it logs every AWS call
    # No state machine runs: the floor and the handler must leave the endpoint alike.
    server = aws_endpoint.start(stacks, HOST, port, {"stepfunctions": {"execute_state_machine": False}})
    try:
        yield Endpoint(stacks, url)
    finally:
        server.shutdown()


@dataclass
class Plan:
    spec: FunctionSpec
    sample: str
    env: dict[str, str]
    cold_request: str
    floor: str
    clients: list[str]
    calls: list[RecordedCall]
    outcome: str
    seed: list[RecordedCall]


def first_invocation(
    spec: FunctionSpec,
    stacks: Stacks,
    code: Path,
    runtime: Path,
    aws: Endpoint,
    record: Path,
    seeds: dict[tuple[str, str], list[RecordedCall]] | None = None,
) -> Plan:
    """The first of the function's samples whose first invocation ends cleanly (else its first
    sample), with what that invocation did. Each runs on the empty resources, or on what the sample
    preceding it left (``PRECEDED_BY``; ``seeds``: the calls of those samples, by service and name)."""
    module, attribute = spec.handler.rsplit(".", 1)
    path = _PATH.format(code=str(code), runtime=str(runtime))
    cold_request = _COLD_REQUEST.format(module=module.replace("/", "."), attribute=attribute)
    env = lambda_environment(spec, code, runtime, aws.url)
    plans = []
    for sample in sample_events(stacks, spec):
        prelude = path + _INVOCATION.format(
            event=sample.read_text(), name=spec.name, memory=spec.memory, region=REGION, timeout=spec.timeout
        )
        preceding = PRECEDED_BY.get((spec.service, sample.name))
        seed = (seeds or {})[spec.service, preceding] if preceding else []
        aws.reset(seed)
        _, result = in_fresh_interpreter(
            prelude
            + _RECORD.format(
                root=str(ROOT), record=str(record), cold_request=cold_request.replace("\n", "\n    ")
            ),
            env,
        )
        created, calls = pickle.loads(record.read_bytes())  # noqa: S301 - written just above, by us
        floor = record.with_suffix(f".{len(plans)}.pickle")
        record.rename(floor)
        plans.append(
            Plan(
                spec,
                sample.name,
                env,
                prelude + cold_request + _TIMED,
                path + _FLOOR.format(record=str(floor)),
                created,
                calls,
                outcome(result),
                seed,
            )
        )
        if clean(plans[-1].outcome):
            return plans[-1]
    return plans[0]


def _predecessors(stacks: Stacks, spec: FunctionSpec) -> int:
    """How many samples run, one after the other, before the function's first can."""
    longest = 0
    for path in sample_events(stacks, spec):
        key, chain = (spec.service, path.name), 0
        while key in PRECEDED_BY:
            key, chain = (spec.service, PRECEDED_BY[key]), chain + 1
        longest = max(longest, chain)
    return longest


def run(repeat: int) -> Table:
    table = Table(
        f"Cold request: init and first invocation, from the read-only unzipped package, on moto "
        f"(ms, {repeat} fresh interpreters each)",
        [
            "function",
            "sample event",
            "first invocation",
            "clients",
            "AWS calls",
            "floor min",
            "floor median",
            "cold min",
            "cold median",
            "ratio (median of pairs)",
            "ratio (min)",
            f"target {TARGET}x",
        ],
    )
    stacks = Stacks()
    apis = {(r.service, r.function) for r in routes(stacks)}
    specs = sorted(functions(stacks).values(), key=lambda s: ((s.service, s.logical_id) in apis, s.name))
    with (
        unpacked(sorted({s.service for s in specs})) as (codes, runtime),
        endpoint() as aws,
        tempfile.TemporaryDirectory(prefix="bench-calls-") as records,
    ):
        plans = []
        seeds: dict[tuple[str, str], list[RecordedCall]] = {}
        # The samples that others follow are run first, so their calls are known when needed.
        for spec in sorted(specs, key=lambda spec: _predecessors(stacks, spec)):
            try:
                plan = first_invocation(
                    spec,
                    stacks,
                    codes[spec.service],
                    runtime,
                    aws,
                    Path(records, f"{spec.name}.pickle"),
                    seeds,
                )
            except (RuntimeError, IndexError) as error:
                table.skip(spec.name, f"no first invocation ({error!r})")
                continue
            seeds[spec.service, plan.sample] = plan.seed + plan.calls  # the state it leaves
            plans.append(plan)
        plans.sort(key=lambda plan: specs.index(plan.spec))
        samples: dict[str, tuple[list[float], list[float]]] = {plan.spec.name: ([], []) for plan in plans}
        for _ in range(repeat):
            for plan in plans:
                aws.reset(plan.seed)
                samples[plan.spec.name][0].append(float(in_fresh_interpreter(plan.floor, plan.env)))
                aws.reset(plan.seed)
                samples[plan.spec.name][1].append(float(in_fresh_interpreter(plan.cold_request, plan.env)[0]))
    for plan in plans:
        floor, cold = (Timings(tuple(values)) for values in samples[plan.spec.name])
        # Each cold request is paired with the floor run just before it: the median of those
        # ratios holds up when the machine's load changes during the run.
        paired = statistics.median(c / f for f, c in zip(*samples[plan.spec.name], strict=True))
        on_snapstart = (plan.spec.service, plan.spec.logical_id) in apis
        table.add(
            plan.spec.name,
            plan.sample + (f" after {PRECEDED_BY[plan.spec.service, plan.sample]}" if plan.seed else ""),
            plan.outcome,
            ", ".join(plan.clients) or "none",
            ", ".join(f"{service}.{operation}" for service, operation, _ in plan.calls) or "none",
            ms(floor.min),
            ms(floor.median),
            ms(cold.min),
            ms(cold.median),
            f"{paired:.2f}x",
            f"{cold.min / floor.min:.2f}x",
            "reference (SnapStart in prod)" if on_snapstart else verdict(paired, TARGET),
        )
    table.notes += [
        "Environment as Lambda sets it (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_*, ...) plus the "
        "function's template variables; interpreter start-up, parsing the event and building the "
        "context are left out of both sides.",
        "Every run starts from the packaged resources, empty, or holding what the sample named "
        "after 'after' left (its AWS calls replayed). Sample event: the function's first that ends "
        "cleanly there, else its first; the charge-payment sample's order pays with tok_decline, so "
        "its charge is recorded and the fake provider declines it (the path to mark-failed).",
    ]
    return table
