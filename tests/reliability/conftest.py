"""Fixtures of the reliability tests: faults under every boto3 client, the publishers without real
backoff waits, a local AWS endpoint and the redrive command against it (the HTTP API functions,
``call_http``, and the bus recorder, ``bus_recorder``, are the test kit's, for every suite)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import boto3
import pytest
from botocore.client import BaseClient
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devtools.emulator.lambda_runtime import FunctionSpec
from devtools.template import ROOT, Stacks
from shared.publisher import EventPublisher
from tests.reliability.faults import AwsFaults


@pytest.fixture
def aws_faults(aws: Stacks, monkeypatch: pytest.MonkeyPatch) -> AwsFaults:
    """Faults for every SDK call of this test: ``aws_faults.on("PutEvents", fault)``."""
    faults = AwsFaults()
    monkeypatch.setattr(BaseClient, "_make_api_call", faults.wrap(BaseClient._make_api_call))
    return faults


@pytest.fixture
def concurrent_aws_faults(aws: Stacks, monkeypatch: pytest.MonkeyPatch) -> AwsFaults:
    """As ``aws_faults``, for tests that call from many threads: moto gets one call at a time."""
    faults = AwsFaults(serialize=True)
    monkeypatch.setattr(BaseClient, "_make_api_call", faults.wrap(BaseClient._make_api_call))
    return faults


@pytest.fixture
def publisher_waits(
    function_specs: dict[str, FunctionSpec], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], list[float]]:
    """``publisher_waits("users")``: that service's outbox publisher records its backoff waits
    instead of sleeping them (its client, retries and logic unchanged); returns the waits."""

    def install(service: str) -> list[float]:
        spec = function_specs[f"shop-{service}-dev-publish-events"]
        spec.load()
        module = sys.modules[spec.handler.rsplit(".", 1)[0].replace("/", ".")]
        waits: list[float] = []
        client = boto3.client("events", region_name=module.settings.aws_region)
        publisher = EventPublisher(client, module.settings.event_bus_name, sleep=waits.append)
        monkeypatch.setattr(module, "publisher", publisher)
        return waits

    return install


@pytest.fixture
def local_endpoint():
    """moto in server mode on a free port, as ``make dev`` runs it."""
    server = make_server(
        "127.0.0.1",
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def redrive_command(local_endpoint: str) -> Callable[..., subprocess.CompletedProcess]:
    """``redrive_command("work-dlq", "--stage", "cli")``: what ``make redrive`` runs, in a process of
    its own, against ``local_endpoint``."""

    def run(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "devtools.ops.redrive", *arguments],
            env=os.environ | {"AWS_ENDPOINT_URL": local_endpoint},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    return run
