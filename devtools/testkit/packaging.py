"""Packaging a copy of services with the real framework, so that a test may edit a template without
touching the repository's own (or its packages under ``.serverless/``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.template import ROOT

# What a service's serverless.yml packages from or includes, outside its own folder.
_SHARED = ("node_modules", "shared", "serverless", "tools", "requirements")


def copy_services(destination: Path, *services: str) -> Path:
    """``destination`` as a repository holding copies of ``services`` (without their tests and
    packages) beside links to what they package from; returns ``destination``."""
    for service in services:
        shutil.copytree(
            ROOT / "services" / service,
            destination / "services" / service,
            ignore=shutil.ignore_patterns(".serverless", "__pycache__", "tests"),
        )
    for name in _SHARED:
        (destination / name).symlink_to(ROOT / name)
    return destination


def osls(
    repo: Path, service: str, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``npx osls <arguments>`` in ``repo``'s copy of ``service``; never raises on failure."""
    return subprocess.run(  # noqa: S603 - the framework with our arguments
        [str(ROOT / "node_modules" / ".bin" / "osls"), *arguments],
        cwd=repo / "services" / service,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
