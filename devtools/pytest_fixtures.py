"""Pytest fixtures for every suite: moto-backed AWS provisioned from the packaged templates, and
handlers loaded with the environment their template gives them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.lambda_runtime import FunctionSpec, functions
from devtools.plumbing import MOTO_CONFIG, Plumbing
from devtools.provision import provision
from devtools.template import Stacks


@pytest.fixture(scope="session")
def stacks() -> Stacks:
    """The packaged templates of every service (``make package`` writes them)."""
    return Stacks()


@pytest.fixture
def aws(stacks: Stacks) -> Iterator[Stacks]:
    """A fresh moto account holding every table, queue, bus, rule and state machine that deploys."""
    with mock_aws(config=MOTO_CONFIG):
        provision(stacks, boto3.Session())
        yield stacks


@pytest.fixture
def plumbing(aws: Stacks) -> Iterator[Plumbing]:
    """Streams, queues and state machine tasks wired to the real handlers; call ``.drain()``."""
    wiring = Plumbing(aws, boto3.Session())
    with wiring.routing_state_machine_tasks():
        yield wiring


@pytest.fixture(scope="session")
def function_specs(stacks: Stacks) -> dict[str, FunctionSpec]:
    return functions(stacks)


@pytest.fixture
def lambda_function(
    function_specs: dict[str, FunctionSpec], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], Callable[[dict], Any]]:
    """``lambda_function("users", "api")`` → a callable that invokes that function's handler with
    an event and a Lambda context, under the environment of its packaged template."""

    def load(service: str, name: str) -> Callable[[dict], Any]:
        spec = function_specs[f"shop-{service}-dev-{name}"]
        for key, value in spec.environment.items():
            monkeypatch.setenv(key, value)
        handler = spec.load()
        return lambda event: handler(event, spec.context())

    return load
