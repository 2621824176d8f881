"""Hot reload: an edit to a function's code is served by its next invocation, with no restart.

A function's workers import its code once (``devtools.local.environments``); a change under
``services/<x>/src`` retires the workers of that service's functions, one under ``shared/`` those
of every function, and the next invocation starts a fresh worker that imports the code as it is
now. Tables, queues, executions and the rest live in the AWS endpoint and are untouched. The log
says which files changed and which functions reloaded.

An edit to a ``serverless.yml`` is not applied to a running stack: the log says to restart it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from devtools.emulator.lambda_runtime import FunctionSpec

log = logging.getLogger("devtools.local.reload")


def functions_to_reload(root: Path, changed: Iterable[Path], specs: dict[str, FunctionSpec]) -> list[str]:
    """The functions whose code includes a changed file."""
    services: set[str] = set()
    for path in changed:
        parts = path.relative_to(root).parts
        if parts[0] == "shared":
            return sorted(specs)
        if parts[0] == "services" and len(parts) > 2 and parts[2] == "src":
            services.add(parts[1])
    return sorted(name for name, spec in specs.items() if spec.service in services)


def _code_or_definition(root: Path) -> Callable[[watchfiles.Change, str], bool]:
    default = watchfiles.DefaultFilter()

    def accept(change: watchfiles.Change, path: str) -> bool:
        if not default(change, path):
            return False
        parts = Path(path).relative_to(root).parts
        if parts[0] == "shared":
            return True
        return len(parts) > 2 and (parts[2] == "src" or parts[2:] == ("serverless.yml",))

    return accept


def watch(
    root: Path,
    specs: dict[str, FunctionSpec],
    retire: Callable[[list[str]], object],
    stop: threading.Event,
) -> None:
    """Until ``stop``: on every change under ``root``'s services and ``shared/``, ``retire`` the
    workers of the functions it touches."""
    for changes in watchfiles.watch(
        root / "services", root / "shared", watch_filter=_code_or_definition(root), stop_event=stop
    ):
        changed = sorted({Path(path) for _, path in changes})
        shown = ", ".join(str(path.relative_to(root)) for path in changed)
        definitions = [path for path in changed if path.name == "serverless.yml"]
        if definitions:
            log.warning("%s changed: restart the stack (make dev) to apply it", shown)
        code = [path for path in changed if path not in definitions]
        if names := functions_to_reload(root, code, specs):
            retire(names)
            log.info("reload: %s changed → fresh workers for %s", shown, ", ".join(names))
