"""Cold start per function: a fresh interpreter imports the handler from the unzipped package in a
read-only directory, with ``PYTHONDONTWRITEBYTECODE=1`` and the environment Lambda gives it, until
the handler is ready to serve.

Baseline, interleaved with it in the same run: a fresh interpreter on the same path that imports
boto3 and creates the AWS clients the function creates at import (found by a first, untimed
import that records ``create_client`` calls). Target: at most 1.25x the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from devtools.bench.packages import unpacked
from devtools.bench.table import Table, Timings, ms, verdict
from devtools.lambda_runtime import FunctionSpec, functions
from devtools.template import REGION, Stacks

TARGET = 1.25

_PATH = "import sys\nsys.path[:0] = [{code!r}, {runtime!r}]\n"
_HANDLER = """
import time
started = time.perf_counter()
import importlib
module = importlib.import_module({module!r})
assert callable(getattr(module, {attribute!r}))
print(time.perf_counter() - started)
"""
_BASELINE = """
import time
started = time.perf_counter()
import boto3
clients = [boto3.client(name) for name in {clients!r}]
print(time.perf_counter() - started)
"""
_DISCOVER = """
import importlib, json
import botocore.session
created = []
original = botocore.session.Session.create_client
def create_client(self, service_name, *args, **kwargs):
    created.append(service_name)
    return original(self, service_name, *args, **kwargs)
botocore.session.Session.create_client = create_client
importlib.import_module({module!r})
print(json.dumps(created))
"""


def lambda_environment(spec: FunctionSpec, code: Path, runtime: Path) -> dict[str, str]:
    """What the Python runtime sets for a function, then the function's own variables."""
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
    } | spec.environment


def _python(script: str, env: dict[str, str]) -> str:
    # -S: no site-packages; the path is the package and the runtime's boto3, nothing else.
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    if run.returncode:
        raise RuntimeError(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed")
    return run.stdout.strip().splitlines()[-1]


def _module(spec: FunctionSpec) -> tuple[str, str]:
    module, attribute = spec.handler.rsplit(".", 1)
    return module.replace("/", "."), attribute


def run(repeat: int) -> Table:
    table = Table(
        f"Cold start: handler ready, from the read-only unzipped package (ms, {repeat} fresh interpreters)",
        [
            "function",
            "clients at init",
            "baseline min",
            "baseline median",
            "cold min",
            "cold median",
            "ratio (median of pairs)",
            "ratio (min)",
            f"target {TARGET}x",
        ],
    )
    specs = sorted(functions(Stacks()).values(), key=lambda s: s.name)
    with unpacked(sorted({s.service for s in specs})) as (codes, runtime):
        plans = []
        for spec in specs:
            module, attribute = _module(spec)
            env = lambda_environment(spec, codes[spec.service], runtime)
            path = _PATH.format(code=str(codes[spec.service]), runtime=str(runtime))
            try:
                clients = json.loads(_python(path + _DISCOVER.format(module=module), env))
            except RuntimeError as error:
                table.skip(spec.name, f"the handler does not import ({error})")
                continue
            plans.append(
                (
                    spec,
                    clients,
                    env,
                    path + _HANDLER.format(module=module, attribute=attribute),
                    path + _BASELINE.format(clients=clients),
                )
            )
        samples: dict[str, tuple[list[float], list[float]]] = {spec.name: ([], []) for spec, *_ in plans}
        for _ in range(repeat):
            for spec, _clients, env, handler_script, baseline_script in plans:
                samples[spec.name][0].append(float(_python(baseline_script, env)))
                samples[spec.name][1].append(float(_python(handler_script, env)))
    for spec, clients, *_ in plans:
        baseline, cold = (Timings(tuple(values)) for values in samples[spec.name])
        # Each handler run is paired with the baseline run just before it: the median of those
        # ratios holds up when the machine's load changes during the run.
        paired = statistics.median(c / b for b, c in zip(*samples[spec.name], strict=True))
        table.add(
            spec.name,
            ", ".join(clients) or "none",
            ms(baseline.min),
            ms(baseline.median),
            ms(cold.min),
            ms(cold.median),
            f"{paired:.2f}x",
            f"{cold.min / baseline.min:.2f}x",
            verdict(paired, TARGET),
        )
    table.notes.append(
        "Environment as Lambda sets it (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_*, ...) plus the "
        "function's template variables; interpreter start-up is left out of both sides."
    )
    return table
