"""Every service in one process on moto, as the tests and the local stack run it, with each AWS
call a handler makes recorded, and a mirror of the same resources in a second region where the
bare-boto3 baseline replays those calls.

The mirror receives every recorded call in order (seeding included), so its tables hold what the
primary ones hold and a replayed conditional write meets the same state. Step Functions calls are
not replayed: an execution would run the handlers again, in the primary region.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any, ClassVar

import boto3
from botocore import xform_name
from botocore.exceptions import ClientError
from moto import mock_aws

from devtools.bench.calls import Call, CallRecorder
from devtools.emulator.plumbing import MOTO_CONFIG, Plumbing
from devtools.emulator.provision import provision
from devtools.template import REGION, ROOT, Stacks
from shared import observability
from shared.settings import Settings

MIRROR_REGION = "eu-west-1"
_EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_REPLAYED = frozenset({"stepfunctions"})


def _in_mirror(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(REGION, MIRROR_REGION)
    if isinstance(value, dict):
        return {key: _in_mirror(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_mirror(item) for item in value]
    return value


@dataclass
class Mirror:
    """Bare boto3 clients on the mirror region: what a handler would cost without any framework."""

    clients: dict[str, Any] = field(default_factory=dict)
    failures: int = 0

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name=MIRROR_REGION)
        return self.clients[service]

    def prepare(self, calls: list[Call]) -> list[tuple[Any, dict[str, Any]]]:
        """(bound client method, parameters) for each call, ready to be timed."""
        return [
            (getattr(self.client(call.service), xform_name(call.operation)), _in_mirror(call.params))
            for call in calls
            if call.service not in _NOT_REPLAYED
        ]

    def replay(self, prepared: list[tuple[Any, dict[str, Any]]]) -> None:
        for method, params in prepared:
            try:
                method(**params)
            except ClientError:
                self.failures += 1


@contextmanager
def _function_environment(environment: dict[str, str]) -> Iterator[None]:
    """``environment`` applied for the duration of one invocation, then the previous values back."""
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    Settings.reset()  # settings are read again under this function's variables
    # The handlers' Metrics took these when it was built, before any function's environment; with
    # no namespace, the 100th value of a metric raises, even with metrics disabled.
    observability.metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    observability.metrics.service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class RecordingPlumbing(Plumbing):
    """Every handler in this process (the benchmarks time handlers on moto in process, not the
    local stack's processes): one invocation at a time, each under its own function's environment,
    with the AWS calls it makes recorded."""

    recorder: ClassVar[CallRecorder]

    def invoke(self, function_name: str, event: Any) -> Any:
        spec = self.specs[function_name]
        environment = spec.environment | {"AWS_LAMBDA_FUNCTION_NAME": spec.name}
        with self.recorder.recording(), self.lock, _function_environment(environment):
            return super().invoke(function_name, event)


@dataclass
class World:
    stacks: Stacks
    plumbing: RecordingPlumbing
    recorder: CallRecorder
    mirror: Mirror
    synced: int = 0  # recorded calls already replayed in the mirror

    def invoke(self, function_name: str, event: dict[str, Any]) -> tuple[Any, list[Call]]:
        with self.recorder.recording() as made:
            result = self.plumbing.invoke(function_name, event)
        return result, made

    def sync_mirror(self) -> None:
        """Replay in the mirror what the handlers did since the last sync."""
        pending = self.recorder.calls[self.synced :]
        self.synced = len(self.recorder.calls)
        self.mirror.replay(self.mirror.prepare(pending))

    def drain(self) -> None:
        self.plumbing.drain(timeout=60)
        self.sync_mirror()


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Handlers log JSON lines and metrics to stdout, as in Lambda: the work is done, the lines
    go nowhere, and the benchmark's tables stay readable."""
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        streams = [
            handler
            for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
            for handler in getattr(logger, "handlers", [])
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stdout__
        ]
        for handler in streams:
            handler.setStream(devnull)
        try:
            yield
        finally:
            for handler in streams:
                handler.setStream(sys.__stdout__)


@contextmanager
def world() -> Iterator[World]:
    """A fresh moto account holding every packaged resource, in the primary and mirror regions."""
    with ExitStack() as stack:
        stack.enter_context(_quiet_stdout())
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stacks = Stacks()
        session = boto3.Session(region_name=REGION)
        provision(stacks, session)
        provision(Stacks(region=MIRROR_REGION), boto3.Session(region_name=MIRROR_REGION))
        sys.path[:0] = [str(ROOT / "services" / service / "src") for service in stacks.services]
        recorder = stack.enter_context(CallRecorder().installed())
        RecordingPlumbing.recorder = recorder
        plumbing = RecordingPlumbing(stacks, session)
        for region in (REGION, MIRROR_REGION):
            ses = boto3.client("ses", region_name=region)
            for spec in plumbing.specs.values():
                for value in spec.environment.values():
                    if _EMAIL_ADDRESS.match(value):
                        ses.verify_email_identity(EmailAddress=value)
        stack.enter_context(plumbing.routing_state_machine_tasks())
        yield World(stacks, plumbing, recorder, Mirror())
