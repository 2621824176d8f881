"""Finish a service's deployment zip so that it is exactly what Lambda should load.

The framework zips ``src/<package>/`` and ``shared/``. This script, run by the
``osls-python-bundle`` plugin after packaging:

1. moves ``src/<package>/`` to the zip root (handlers are ``<package>/handlers/<name>.handler``);
2. adds the dependencies of ``requirements/lambda.txt`` built for the function's architecture
   (manylinux wheels, never the host's), without boto3/botocore, which the runtime provides;
3. adds bytecode for every module, compiled with ``unchecked-hash`` so the runtime uses it
   as is: Lambda's code directory is read-only, and bytecode that is missing or stale would be
   compiled again on every cold start.

Dependencies are built once per (architecture, requirements) into ``.cache/lambda-deps/``.
The zip is deterministic: fixed timestamps and sorted entries.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import importlib.util
import py_compile
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements" / "lambda.txt"
CACHE = ROOT / ".cache" / "lambda-deps"
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# The python3.11 runtime ships boto3 with its whole dependency tree.
PROVIDED_BY_RUNTIME = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "urllib3", "six"}
)
TASK_ROOT = "/var/task"
EPOCH = (1980, 1, 1, 0, 0, 0)


def build_dependencies(architecture: str, python_version: str) -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    target = CACHE / f"py{python_version}-{architecture}-{digest}"
    if target.exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(staging),
            "--requirement",
            str(REQUIREMENTS),
            "--platform",
            PLATFORMS[architecture],
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            "--only-binary=:all:",
            "--no-compile",
        ],
        check=True,
    )
    for path in list(staging.iterdir()):
        name = path.name.split("-")[0].removesuffix(".py").lower()
        if name in PROVIDED_BY_RUNTIME or path.name == "bin":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    compileall.compile_dir(
        staging,
        ddir=TASK_ROOT,
        quiet=1,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    staging.rename(target)
    return target


def _pyc_name(name: str) -> str:
    return importlib.util.cache_from_source(name)


def _bytecode(source: bytes, name: str) -> bytes:
    code = compile(source, f"{TASK_ROOT}/{name}", "exec", dont_inherit=True)
    from importlib._bootstrap_external import _code_to_hash_pyc  # the format py_compile writes

    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def rebuild(zip_path: Path, dependencies: Path) -> None:
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(zip_path) as original:
        for info in original.infolist():
            if info.is_dir() or "__pycache__" in info.filename or info.filename.endswith(".pyc"):
                continue
            name = info.filename.removeprefix("src/")
            files[name] = original.read(info)
    for name in [n for n in files if n.endswith(".py")]:
        files[_pyc_name(name)] = _bytecode(files[name], name)
    for path in dependencies.rglob("*"):
        if path.is_file():
            files.setdefault(path.relative_to(dependencies).as_posix(), path.read_bytes())
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, files[name])
    tmp.replace(zip_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, required=True)
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), required=True)
    parser.add_argument("--runtime", required=True, help="e.g. python3.11")
    args = parser.parse_args()
    python_version = args.runtime.removeprefix("python")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python_version != here:
        sys.exit(
            f"bundle: bytecode for {args.runtime} must be compiled by Python {python_version}, not {here}"
        )
    rebuild(args.zip, build_dependencies(args.architecture, python_version))
    print(f"bundle: {args.zip} ready for {args.runtime} on {args.architecture}")


if __name__ == "__main__":
    main()
