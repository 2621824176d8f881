"""The deployment zips as Lambda sees them: unpacked into a read-only directory, next to a folder
holding only what the Python runtime provides (boto3 and its dependencies)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from devtools.template import template_path

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def artifact(service: str) -> Path:
    return template_path(service).parent / f"shop-{service}.zip"


def _read_only(root: Path) -> None:
    """As Lambda's /var/task: nothing can be written (bytecode included)."""
    for folder, _, files in os.walk(root):
        for name in files:
            os.chmod(Path(folder, name), stat.S_IRUSR)
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)


@contextmanager
def unpacked(services: list[str]) -> Iterator[tuple[dict[str, Path], Path]]:
    """({service: its unpacked, read-only code directory}, the runtime's boto3 folder)."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-packages-"))
    try:
        runtime = scratch / "runtime"
        runtime.mkdir()
        site = Path(boto3.__file__).parent.parent
        for name in RUNTIME_PACKAGES:
            (runtime / name).symlink_to(site / name)
        codes = {}
        for service in services:
            codes[service] = scratch / service
            with zipfile.ZipFile(artifact(service)) as bundle:
                bundle.extractall(codes[service])
            _read_only(codes[service])
        yield codes, runtime
    finally:
        for folder, _, _ in os.walk(scratch):
            os.chmod(folder, stat.S_IRWXU)
        shutil.rmtree(scratch)
