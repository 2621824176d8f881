"""Hot reload: an edit is served without a restart, with every table, queue and execution intact.

- **Code.** A function's workers import its code once (``devtools.local.environments``); a change
  under ``services/<x>/src`` retires the workers of that service's functions, one under ``shared/``
  those of every function, and the next invocation starts a fresh worker that imports the code as
  it is now. The log says which files changed and which functions reloaded.
- **Definitions.** A change to ``services/<x>/serverless.yml`` or to a file under
  ``services/<x>/resources/`` packages that service again, one under ``serverless/`` (the shared
  blocks every ``serverless.yml`` includes) every service, and the stack serves what changed in
  the new templates: tables, queues, rules, functions, routes, authorizers, pollers
  (``devtools.local.definitions``). Saves in a row are packaged once: the packaging waits until
  the files have been quiet for ``DEFINITIONS_QUIET_MS``. A service that fails to package keeps its
  previous definition; the log shows the framework's error. The log says what was packaged and
  what changed.

Tables, queues, executions and the rest live in the AWS endpoint and are untouched.

Two watchers, one per kind, because they wait differently: a code change is served at once (the
next invocation), a definition waits for its files to be quiet (a packaging takes seconds). Each
is one inotify watch per folder: the second costs next to nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from devtools.emulator.lambda_runtime import FunctionSpec

log = logging.getLogger("devtools.local.reload")

DEFINITIONS_QUIET_MS = 500  # quiet before a definition is packaged: saves in a row package once
DEFINITIONS_MAX_WAIT_MS = 5000  # packaged after this long however busy the files are


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


def services_to_package(root: Path, changed: Iterable[Path], services: Iterable[str]) -> list[str]:
    """The services whose definition includes a changed file (``serverless/``: all of them)."""
    touched: set[str] = set()
    for path in changed:
        parts = path.relative_to(root).parts
        if parts[0] == "serverless":
            return sorted(services)
        touched.add(parts[1])
    return sorted(touched & set(services))


def _accepting(
    root: Path, wanted: Callable[[tuple[str, ...]], bool]
) -> Callable[[watchfiles.Change, str], bool]:
    default = watchfiles.DefaultFilter()

    def accept(change: watchfiles.Change, path: str) -> bool:
        return default(change, path) and wanted(Path(path).relative_to(root).parts)

    return accept


def _code(parts: tuple[str, ...]) -> bool:
    return parts[0] == "shared" or (len(parts) > 2 and parts[2] == "src")


def _definition(parts: tuple[str, ...]) -> bool:
    if parts[0] == "serverless":
        return True
    return len(parts) > 2 and (parts[2:] == ("serverless.yml",) or parts[2] == "resources")


def _shown(root: Path, changed: list[Path]) -> str:
    return ", ".join(str(path.relative_to(root)) for path in changed)


def watch(
    root: Path,
    specs: Callable[[], dict[str, FunctionSpec]],
    retire: Callable[[list[str]], object],
    stop: threading.Event,
) -> None:
    """Until ``stop``: on every change to the code under ``root``'s services and ``shared/``,
    ``retire`` the workers of the functions it touches (of ``specs()``, those served now)."""
    for changes in watchfiles.watch(
        root / "services", root / "shared", watch_filter=_accepting(root, _code), stop_event=stop
    ):
        changed = sorted({Path(path) for _, path in changes})
        if names := functions_to_reload(root, changed, specs()):
            retire(names)
            log.info("reload: %s changed → fresh workers for %s", _shown(root, changed), ", ".join(names))


def watch_definitions(
    root: Path,
    services: Iterable[str],
    reload: Callable[[list[str], str], object],
    stop: threading.Event,
) -> None:
    """Until ``stop``: on every change to the definition of some of ``services``, ``reload`` them
    (with the files changed, for the log), once the files have been quiet a moment."""
    services = list(services)
    for changes in watchfiles.watch(
        root / "services",
        root / "serverless",
        watch_filter=_accepting(root, _definition),
        stop_event=stop,
        step=DEFINITIONS_QUIET_MS,
        debounce=DEFINITIONS_MAX_WAIT_MS,
    ):
        changed = sorted({Path(path) for _, path in changes})
        if touched := services_to_package(root, changed, services):
            reload(touched, _shown(root, changed))
