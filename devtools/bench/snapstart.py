"""SnapStart per API route: the first invocation after init and priming, against the same route's
warm invocations, in process on moto. Target: the primed first invocation at most 1.2x the warm p50.

For each route, the API function's modules are dropped and imported again (a new environment)
with Lambda's runtime hooks standing in: the hooks its entry point registers are run as Lambda runs
them for a snapshot (``prime``, then ``reseed`` as after a restore), then the route's request is
timed, then warm requests. The same without priming shows what priming takes off the first
request. What the process keeps between environments (botocore's loaded service models, Python's
own caches) is warm in both: the unprimed figure is a lower bound of what Lambda would see.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from devtools.bench.scenarios import Scenarios
from devtools.bench.table import Table, Timings, ms, verdict
from devtools.bench.world import World, world
from devtools.emulator.apigw import routes
from shared import snapstart

TARGET = 1.2
WARM_UP = 3


@contextmanager
def runtime_hooks() -> Iterator[dict[str, list[tuple[Any, tuple]]]]:
    """Lambda's ``snapshot_restore_py`` standing in: records the hooks registered meanwhile."""
    hooks: dict[str, list[tuple[Any, tuple]]] = {"before": [], "after": []}
    with (
        mock.patch.object(
            snapstart, "register_before_snapshot", lambda f, *a: hooks["before"].append((f, a))
        ),
        mock.patch.object(snapstart, "register_after_restore", lambda f, *a: hooks["after"].append((f, a))),
    ):
        yield hooks


def _new_environment(current: World, function: str, *, primed: bool) -> tuple[float, float]:
    """Import ``function``'s handler anew (and prime it); the seconds of init and of priming."""
    spec = current.plumbing.specs[function]
    package = spec.handler.split("/", 1)[0]
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    current.plumbing._handlers.pop(function, None)  # the plumbing caches handlers
    with runtime_hooks() as hooks:
        started = time.perf_counter()
        current.plumbing.handler(function)
        init = time.perf_counter() - started
    started = time.perf_counter()
    if primed:
        for hook, arguments in reversed(hooks["before"]):  # Lambda runs them in reverse order
            hook(*arguments)
        for hook, arguments in hooks["after"]:
            hook(*arguments)
    return init, time.perf_counter() - started


def _timed(current: World, function: str, event: dict[str, Any]) -> float:
    started = time.perf_counter()
    response, _ = current.invoke(function, event)
    elapsed = time.perf_counter() - started
    if not 200 <= response["statusCode"] < 300:
        raise RuntimeError(f"answered {response['statusCode']}: {response.get('body')}")
    return elapsed


def run(repeat: int) -> Table:
    samples = 6 * repeat
    table = Table(
        f"SnapStart: first invocation after init and priming vs warm, in process on moto "
        f"(ms; first: best of {repeat} new environments, warm: {samples} requests)",
        [
            "route",
            "init",
            "priming",
            "first, not primed",
            "first, primed",
            "warm p50",
            "primed first / warm p50",
            f"target {TARGET}x",
        ],
    )
    with world() as current:
        scenarios = Scenarios(current)
        for route in routes(current.stacks):
            key, function = route.route_key, scenarios.functions[route.route_key]
            try:
                if scenarios.request(key) is None:
                    table.skip(key, "no scenario in devtools/bench/scenarios.py")
                    continue
                firsts: dict[bool, list[float]] = {False: [], True: []}
                inits, primings = [], []
                for _ in range(repeat):
                    for primed in (False, True):
                        event = scenarios.request(key).event()  # its data made before the new environment
                        init, priming = _new_environment(current, function, primed=primed)
                        firsts[primed].append(_timed(current, function, event))
                        if primed:
                            inits.append(init)
                            primings.append(priming)
                for _ in range(WARM_UP):
                    _timed(current, function, scenarios.request(key).event())
                warm = Timings(
                    tuple(_timed(current, function, scenarios.request(key).event()) for _ in range(samples))
                )
            except RuntimeError as error:
                table.skip(key, str(error))
                continue
            first = min(firsts[True])
            table.add(
                key,
                ms(min(inits)),
                ms(min(primings)),
                ms(min(firsts[False])),
                ms(first),
                ms(warm.median),
                f"{first / warm.median:.2f}x",
                verdict(first / warm.median, TARGET),
            )
    table.notes.append(
        "Each new environment re-imports the function's own modules; the process's shared caches stay "
        "warm, so 'first, not primed' is a lower bound of Lambda's."
    )
    return table
