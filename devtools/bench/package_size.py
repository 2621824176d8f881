"""Package size per service: zipped and unzipped, split into own code, ``shared/`` and dependencies.

Targets: under 5 MB zipped each, under 250 MB unzipped (Lambda's limit, with everything).
"""

from __future__ import annotations

import zipfile
from collections import Counter

from devtools.bench.packages import artifact
from devtools.bench.table import Table, verdict
from devtools.template import SERVICES

ZIPPED_TARGET = 5 * 1024**2
UNZIPPED_TARGET = 250 * 1024**2


def _part(service: str, name: str) -> str:
    top = name.split("/", 1)[0]
    if top == service:
        return "own"
    if top == "shared":
        return "shared"
    return "deps"


def _mb(size: float) -> str:
    return f"{size / 1024**2:.2f}"


def run(repeat: int) -> Table:
    table = Table(
        "Package size (MB; zipped = compressed bytes in the zip)",
        [
            "service",
            "zip file",
            "unzipped",
            "own zipped",
            "shared zipped",
            "deps zipped",
            "largest deps (zipped)",
            "zip target 5 MB",
            "unzipped target 250 MB",
        ],
    )
    for service in SERVICES:
        path = artifact(service)
        if not path.exists():
            table.skip(service, "no zip (a service without functions, or `make package` not run)")
            continue
        zipped, unzipped, deps = Counter(), 0, Counter()
        with zipfile.ZipFile(path) as bundle:
            for info in bundle.infolist():
                part = _part(service, info.filename)
                zipped[part] += info.compress_size
                unzipped += info.file_size
                if part == "deps":
                    deps[info.filename.split("/", 1)[0].split("-", 1)[0]] += info.compress_size
        size = path.stat().st_size
        largest = ", ".join(f"{name} {_mb(value)}" for name, value in deps.most_common(3))
        table.add(
            service,
            _mb(size),
            _mb(unzipped),
            _mb(zipped["own"]),
            _mb(zipped["shared"]),
            _mb(zipped["deps"]),
            largest,
            verdict(size, ZIPPED_TARGET),
            verdict(unzipped, UNZIPPED_TARGET),
        )
    return table
