"""HTTP API functions in many execution environments at once, as Lambda runs concurrent requests."""

from __future__ import annotations

import importlib.util
import sys

from devtools.emulator.lambda_runtime import FunctionSpec
from devtools.testkit.http import Invoke


def execution_environments(spec: FunctionSpec, count: int) -> list[Invoke]:
    """``count`` copies of a function's handler, one per simulated execution environment.

    Lambda runs one request at a time per environment, and handler modules rely on it (the
    Powertools resolver keeps the current event on the app). Concurrent requests therefore each
    get their own module instance: its own resolver, clients and repositories, as ``count``
    concurrent Lambda invocations would. Shared code (``shared``, the domain) is imported once.
    """
    spec.load()  # the function's environment, and the module's packages imported
    module_name = spec.handler.rsplit(".", 1)[0].replace("/", ".")
    origin = sys.modules[module_name].__spec__.origin
    handlers = []
    for index in range(count):
        name = f"{module_name}__environment_{index}"
        copy_spec = importlib.util.spec_from_file_location(name, origin)
        module = importlib.util.module_from_spec(copy_spec)
        sys.modules[name] = module  # pydantic resolves the module's annotations through it
        copy_spec.loader.exec_module(module)
        handler = getattr(module, spec.handler.rsplit(".", 1)[1])
        handlers.append(lambda event, handler=handler: handler(event, spec.context()))
    return handlers
