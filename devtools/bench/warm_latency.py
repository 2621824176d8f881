"""Warm latency per route: the route's handler invoked in process on moto, against a baseline that
makes the very same AWS calls (recorded from that invocation) with bare boto3 on an identical
mirror of the resources, and nothing else. Target: p50 at most 1.2x the baseline's.

Writes the handlers' p50 per route to ``.cache/bench/durations.json`` for
``python -m devtools.ops.cost --durations`` (moto in process: no network, so a lower bound).
"""

from __future__ import annotations

import json
import time

from devtools.bench.scenarios import Scenarios
from devtools.bench.table import Table, Timings, ms, verdict
from devtools.bench.world import world
from devtools.emulator.apigw import routes
from devtools.template import ROOT

TARGET = 1.2
WARM_UP = 3
DURATIONS = ROOT / ".cache" / "bench" / "durations.json"


def run(repeat: int) -> Table:
    samples = 6 * repeat
    table = Table(
        f"Warm latency per route, in process on moto (ms, {samples} requests each)",
        [
            "route",
            "AWS calls",
            "baseline min",
            "baseline p50",
            "handler min",
            "handler p50",
            "handler p99",
            "overhead p50",
            "ratio p50",
            f"target {TARGET}x",
        ],
    )
    durations = {}
    with world() as current:
        scenarios = Scenarios(current)
        for route in routes(current.stacks):
            key, function = route.route_key, scenarios.functions[route.route_key]
            try:
                for _ in range(WARM_UP):
                    request = scenarios.request(key)
                    if request is None:
                        break
                    scenarios.call(request)
                if request is None:
                    table.skip(key, "no scenario in devtools/bench/scenarios.py")
                    continue
                handler, baseline, calls = [], [], 0
                for _ in range(samples):
                    event = scenarios.request(key).event()
                    current.sync_mirror()
                    started = time.perf_counter()
                    _, made = current.invoke(function, event)
                    handler.append(time.perf_counter() - started)
                    prepared = current.mirror.prepare(made)
                    started = time.perf_counter()
                    current.mirror.replay(prepared)
                    baseline.append(time.perf_counter() - started)
                    current.synced = len(current.recorder.calls)
                    calls = len(made)
            except RuntimeError as error:
                table.skip(key, str(error))
                continue
            base, timed = Timings(tuple(baseline)), Timings(tuple(handler))
            durations[key] = round(timed.median * 1000, 2)
            table.add(
                key,
                calls,
                ms(base.min),
                ms(base.median),
                ms(timed.min),
                ms(timed.median),
                ms(timed.p99),
                ms(timed.median - base.median),
                f"{timed.median / base.median:.2f}x",
                verdict(timed.median / base.median, TARGET),
            )
        if current.mirror.failures:
            table.notes.append(
                f"{current.mirror.failures} replayed call(s) failed in the mirror (timed all the same)"
            )
    DURATIONS.parent.mkdir(parents=True, exist_ok=True)
    DURATIONS.write_text(json.dumps(durations, indent=2) + "\n")
    table.notes.append(f"Handler p50 per route written to {DURATIONS.relative_to(ROOT)} (for `make cost`).")
    return table
