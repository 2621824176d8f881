"""``python -m devtools.bench [--repeat N] [--only NAME ...]``: every measurement, one table each."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from devtools.bench.table import Table

MEASUREMENTS = (
    "package_size",
    "cold_start",
    "round_trips",
    "warm_latency",
    "snapstart",
    "local_stack",
    "order_volume",
)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    cpu = models[0] if models else platform.processor() or "unknown CPU"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (default 5)")
    parser.add_argument("--only", nargs="+", choices=MEASUREMENTS, help="run only these")
    args = parser.parse_args()
    print(f"# Benchmarks, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\nMachine: {machine()}\n")
    for name in args.only or MEASUREMENTS:
        started = time.perf_counter()
        try:
            result = importlib.import_module(f"devtools.bench.{name}").run(args.repeat)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            result = Table(name, ["measurement", "result"])
            result.skip(name, f"failed: {error!r}")
        tables = result if isinstance(result, list) else [result]
        tables[-1].notes.append(f"({name}: {time.perf_counter() - started:.0f} s)")
        for table in tables:
            print(table.render(), flush=True)


if __name__ == "__main__":
    main()
