"""Finish a service's deployment zip so that it is exactly what Lambda should load.

The framework zips ``src/<package>/`` and ``shared/``. This script, run by the
``osls-python-bundle`` plugin after packaging:

1. moves ``src/<package>/`` to the zip root (handlers are ``<package>/handlers/<name>.handler``);
2. adds the dependencies of ``requirements/lambda.txt`` built for the function's architecture
   (manylinux wheels, never the host's), without boto3/botocore, which the runtime provides;
3. adds bytecode for every module, compiled with ``unchecked-hash`` so the runtime uses it
   as is: Lambda's code directory is read-only, and bytecode that is missing or stale would be
   compiled again on every cold start;
4. keeps the zip small (under 5 MB): dependencies ship as bytecode only (``module.pyc`` in place
   of ``module.py``: same import time, 1.1 MB less; their tracebacks show file and line without
   the source text), and what nothing imports at run time stays out (see ``_left_out``);
5. keeps Powertools' catch-all package ``__init__``s off the cold path (``LAZY_PACKAGES``): each
   imports every resolver or event class of its package, so importing one submodule (any
   ``from aws_lambda_powertools.utilities.data_classes.sqs_event import ...``) loaded them all.
   In the zip they bind the same names lazily (PEP 562 ``__getattr__``): a name is imported on its
   first use.

Dependencies are built once per (architecture, requirements) into ``.cache/lambda-deps/``.
The zip is deterministic: fixed timestamps and sorted entries.
"""

from __future__ import annotations

import argparse
import ast
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
# The python3 runtimes ship boto3 with its whole dependency tree.
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


# Never imported in Lambda: type stubs, C sources, install bookkeeping, dependencies' own tests, and
# Powertools' Swagger UI assets, served only by ``enable_swagger()``, which no service calls (a
# service that wants it can point ``swagger_base_url`` at a CDN). Licences and METADATA stay.
_LEFT_OUT_SUFFIXES = (".pyi", ".c", ".h")
_LEFT_OUT_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_LEFT_OUT_FOLDERS = frozenset({"tests", "swagger_ui"})


def _left_out(name: str) -> bool:
    parts = name.split("/")
    return (
        name.endswith(_LEFT_OUT_SUFFIXES)
        or parts[0].endswith("-stubs")
        or (parts[0].endswith(".dist-info") and parts[-1] in _LEFT_OUT_DIST_INFO)
        or any(part in _LEFT_OUT_FOLDERS for part in parts[:-1])
    )


# Package __init__s that only re-export their submodules' names, and that modules on the handlers'
# cold path import without needing those names (measured in docs/performance.md).
LAZY_PACKAGES = (
    "aws_lambda_powertools/event_handler/__init__.py",
    "aws_lambda_powertools/utilities/data_classes/__init__.py",
)
_LAZY_TEMPLATE = """\
{docstring!r}
# Made lazy by tools/bundle.py: each name is imported from its module on first use (PEP 562).
import importlib as _importlib

__all__ = {exported!r}
_LAZY = {lazy!r}


def __getattr__(name):
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}") from None
    value = getattr(_importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
"""


def lazy_init(source: str, package: str) -> str:
    """The ``__init__`` of ``package`` binding the same names on first use; ``ValueError`` if it does
    anything but re-export names (``from <module> import <name>``) and declare ``__all__``."""
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree, clean=False) or ""
    lazy: dict[str, tuple[str, str]] = {}
    exported: list[str] | None = None
    for index, statement in enumerate(tree.body):
        if index == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module and statement.names[0].name != "*":
            module = importlib.util.resolve_name("." * statement.level + statement.module, package)
            for alias in statement.names:
                lazy[alias.asname or alias.name] = (module, alias.name)
        elif (
            isinstance(statement, ast.Assign)
            and [getattr(t, "id", None) for t in statement.targets] == ["__all__"]
            and isinstance(statement.value, ast.List | ast.Tuple)
        ):
            exported = [ast.literal_eval(element) for element in statement.value.elts]
        else:
            raise ValueError(f"{package}/__init__.py line {statement.lineno}: not a re-export")
    if exported is None:  # what `from <package> import *` took: the public names it bound
        exported = [name for name in lazy if not name.startswith("_")]
    return _LAZY_TEMPLATE.format(docstring=docstring, exported=exported, lazy=lazy)


def _dependency_files(dependencies: Path) -> dict[str, bytes]:
    """The dependencies' files as shipped: each compiled module as sourceless ``.pyc`` beside where
    its source was (the only place Python looks for bytecode without source)."""
    files = {}
    for path in dependencies.rglob("*"):
        name = path.relative_to(dependencies).as_posix()
        if not path.is_file() or "__pycache__" in name or _left_out(name):
            continue
        compiled = Path(importlib.util.cache_from_source(str(path))) if name.endswith(".py") else None
        if name in LAZY_PACKAGES:
            package = name.removesuffix("/__init__.py").replace("/", ".")
            source = lazy_init(path.read_text(), package).encode()
            files[name + "c"] = _bytecode(source, name)
        elif compiled and compiled.exists():
            files[name + "c"] = compiled.read_bytes()
        else:
            files[name] = path.read_bytes()
    return files


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
    for name, content in _dependency_files(dependencies).items():
        files.setdefault(name, content)
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
    parser.add_argument("--runtime", required=True, help="e.g. python3.13")
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
