"""Loading and calling a function's handler the way Lambda would, from the packaged template."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.template import Stacks
from shared.settings import Settings


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 10
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@dataclass(frozen=True)
class FunctionSpec:
    service: str
    logical_id: str
    name: str  # the deployed FunctionName, e.g. shop-users-dev-api
    handler: str  # "users/handlers/api.handler"
    environment: dict[str, str]
    memory: int
    timeout: int

    @property
    def short_name(self) -> str:
        """The key under ``functions:`` in serverless.yml."""
        return self.name.removeprefix(f"shop-{self.service}-").split("-", 1)[1]

    def load(self) -> Callable[[dict, Any], Any]:
        """Apply the function's environment and import its handler (modules read settings at import)."""
        os.environ.update(self.environment)
        Settings.reset()
        return import_handler(self.handler)

    def context(self) -> LambdaContext:
        return LambdaContext(self.name, self.memory, self.timeout, log_group_name=f"/aws/lambda/{self.name}")


def import_handler(handler: str) -> Callable[[dict, Any], Any]:
    """The callable a template's ``Handler`` (``users/handlers/api.handler``) names."""
    module_path, attribute = handler.rsplit(".", 1)
    return getattr(importlib.import_module(module_path.replace("/", ".")), attribute)


class FunctionError(Exception):
    """An invocation that failed in the function's own process, as Lambda reports it: the error's
    type (the exception's class name, or Lambda's own, such as ``Sandbox.Timedout``) and message."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def functions(stacks: Stacks) -> dict[str, FunctionSpec]:
    """Every function of every packaged service, keyed by its deployed name."""
    found = {}
    for service, template in stacks.templates.items():
        for logical_id, props in template.of_type("AWS::Lambda::Function"):
            resolved = stacks.resolve(service, props)
            variables = resolved.get("Environment", {}).get("Variables", {})
            spec = FunctionSpec(
                service=service,
                logical_id=logical_id,
                name=resolved["FunctionName"],
                handler=resolved["Handler"],
                environment={key: str(value) for key, value in variables.items()},
                memory=int(resolved.get("MemorySize", 1024)),
                timeout=int(resolved.get("Timeout", 6)),
            )
            found[spec.name] = spec
    return found
