"""The zips are what Lambda loads: their code, ``shared/`` and dependencies import with only the
zip and the runtime's boto3 on the path, and every module ships its bytecode."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from devtools.emulator.apigw import routes
from devtools.emulator.lambda_runtime import FunctionSpec, functions
from devtools.template import APP_SERVICES, template_path
from tools.bundle import LAZY_PACKAGES, lazy_init

# What the Python Lambda runtime itself provides next to the code.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def artifact(service: str) -> Path:
    return template_path(service).parent / f"shop-{service}.zip"


def _run_as(spec: FunctionSpec, script: str) -> subprocess.CompletedProcess:
    """``script`` in a bare interpreter (no site, no user environment) under ``spec``'s environment,
    as Lambda's runtime starts a function."""
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    env |= spec.environment | {"AWS_LAMBDA_FUNCTION_NAME": spec.name, "POWERTOOLS_TRACE_DISABLED": "true"}
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-E", "-c", script], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def runtime_path(tmp_path_factory) -> Path:
    """A folder holding only what the runtime provides (boto3 and its dependencies)."""
    folder = tmp_path_factory.mktemp("runtime")
    site = Path(boto3.__file__).parent.parent
    for name in RUNTIME_PACKAGES:
        (folder / name).symlink_to(site / name)
    return folder


@pytest.mark.parametrize("service", APP_SERVICES)
def test_handlers_import_from_the_unzipped_package_alone(stacks, service, tmp_path, runtime_path):
    with zipfile.ZipFile(artifact(service)) as bundle:
        bundle.extractall(tmp_path)
    specs = [spec for spec in functions(stacks).values() if spec.service == service]
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for spec in specs:
        env.update(spec.environment)
    modules = sorted({spec.handler.rsplit(".", 1)[0].replace("/", ".") for spec in specs})
    # -S -E: no site-packages, no PYTHONPATH; the path is the zip and the runtime's boto3, nothing else.
    script = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(tmp_path)!r}, {str(runtime_path)!r}]\n"
        "import shared, pydantic\n"
        f"mods = [importlib.import_module(m) for m in {modules!r}]\n"
        "print(json.dumps({'pydantic': pydantic.__file__, 'shared': shared.__file__,"
        " 'handlers': [callable(getattr(m, 'handler', None)) for m in mods]}))\n"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-E", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    assert loaded["pydantic"].startswith(str(tmp_path))
    assert loaded["shared"].startswith(str(tmp_path))
    assert all(loaded["handlers"])


@pytest.mark.parametrize("service", APP_SERVICES)
def test_each_handler_collects_garbage_again_once_its_init_is_done(stacks, service, tmp_path, runtime_path):
    """Init runs with the collector off (shared/__init__.py); building the entry point freezes what
    init made and turns it on again. A handler that skipped the entry point would run without it."""
    with zipfile.ZipFile(artifact(service)) as bundle:
        bundle.extractall(tmp_path)
    for spec in (spec for spec in functions(stacks).values() if spec.service == service):
        module = spec.handler.rsplit(".", 1)[0].replace("/", ".")
        script = (
            "import gc, importlib, json, sys\n"
            f"sys.path[:0] = [{str(tmp_path)!r}, {str(runtime_path)!r}]\n"
            "import shared\n"
            "during_init = gc.isenabled()\n"
            f"importlib.import_module({module!r})\n"
            "print(json.dumps([during_init, gc.isenabled(), gc.get_freeze_count() > 0]))\n"
        )
        run = _run_as(spec, script)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == [False, True, True], spec.name


@pytest.mark.parametrize("service", APP_SERVICES)
def test_zip_ships_bytecode_for_every_module_and_leaves_out_the_runtime_sdk(service):
    with zipfile.ZipFile(artifact(service)) as bundle:
        names = set(bundle.namelist())
        handler_pyc = bundle.read(importlib.util.cache_from_source(f"{service}/handlers/__init__.py"))
    sources = [n for n in names if n.endswith(".py")]
    missing = [n for n in sources if importlib.util.cache_from_source(n) not in names]
    assert sources
    assert not missing, missing[:5]
    # PEP 552 flags = 1: hash-based and unchecked, so the runtime never recompiles nor stats sources.
    assert int.from_bytes(handler_pyc[4:8], "little") == 1
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "s3transfer")]
    assert not [n for n in names if n.startswith(("src/", "tests/"))]
    assert f"{service}/handlers/__init__.py" in names
    assert "shared/__init__.py" in names


# One of the names each rewritten package re-exports, and a sibling module its __init__ imported
# before, which now stays out until a name of it is used.
LAZY_PROBES = {
    "aws_lambda_powertools.event_handler": ("aws_lambda_powertools.event_handler.api_gateway", "appsync"),
    "aws_lambda_powertools.utilities.data_classes": (
        "aws_lambda_powertools.utilities.data_classes.sqs_event",
        "appsync_resolver_event",
    ),
}


def _public_names(package: str) -> dict[str, str]:
    """What the package as published binds: each public name, as the object's module and name."""
    module = importlib.import_module(package)
    return {
        name: f"{value.__module__}.{value.__qualname__}"
        for name, value in vars(module).items()
        if not name.startswith("_") and hasattr(value, "__qualname__")
    }


def test_the_lazy_powertools_packages_bind_the_same_names_from_the_zip(tmp_path, runtime_path):
    """tools/bundle.py rewrites these package __init__s (LAZY_PACKAGES): in the zip each binds the
    published names to the same objects, and importing one of its modules no longer loads the rest."""
    assert {name.removesuffix("/__init__.py").replace("/", ".") for name in LAZY_PACKAGES} == set(LAZY_PROBES)
    with zipfile.ZipFile(artifact("notifications")) as bundle:
        bundle.extractall(tmp_path)
    for package, (module, sibling) in LAZY_PROBES.items():
        script = (
            "import importlib, json, sys\n"
            f"sys.path[:0] = [{str(tmp_path)!r}, {str(runtime_path)!r}]\n"
            f"importlib.import_module({module!r})\n"
            f"loaded = {package + '.' + sibling!r} in sys.modules\n"
            f"lazy = importlib.import_module({package!r})\n"
            "names = {n: f'{v.__module__}.{v.__qualname__}' for n in lazy.__all__ + list(lazy._LAZY)"
            " for v in [getattr(lazy, n)]}\n"
            "print(json.dumps([lazy.__file__, loaded, sorted(lazy.__all__), names]))\n"
        )
        run = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-S", "-E", "-c", script], capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
        file, sibling_loaded, exported, names = json.loads(run.stdout)
        assert file.startswith(str(tmp_path)), package
        assert not sibling_loaded, f"{package}: importing {module} still loads {sibling}"
        assert exported == sorted(importlib.import_module(package).__all__)
        assert names == _public_names(package)


def test_only_an_init_that_re_exports_is_made_lazy():
    assert "'Thing': ('pkg.things', 'Thing')" in lazy_init('"""Doc."""\nfrom .things import Thing\n', "pkg")
    with pytest.raises(ValueError, match="line 2: not a re-export"):
        lazy_init("from .things import Thing\nThing.register()\n", "pkg")


def test_what_no_function_off_the_apis_loads_at_init(stacks, tmp_path, runtime_path):
    """The modules measured as the largest costs of a cold start beyond boto3 stay off the path of
    the functions that do not use them (docs/performance.md): Powertools' batch utility (asyncio,
    and its pydantic record models once pydantic is loaded) and its resolvers everywhere but the
    APIs; pydantic in the outbox publishers, which parse nothing."""
    apis = {(route.service, route.function) for route in routes(stacks)}
    never = ["asyncio", "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.event_handler"]
    for service in APP_SERVICES:
        with zipfile.ZipFile(artifact(service)) as bundle:
            bundle.extractall(tmp_path / service)
    loaded = {}
    for spec in functions(stacks).values():
        if (spec.service, spec.logical_id) in apis:
            continue
        module = spec.handler.rsplit(".", 1)[0].replace("/", ".")
        script = (
            "import importlib, json, sys\n"
            f"sys.path[:0] = [{str(tmp_path / spec.service)!r}, {str(runtime_path)!r}]\n"
            f"importlib.import_module({module!r})\n"
            "print(json.dumps(sorted(sys.modules)))\n"
        )
        run = _run_as(spec, script)
        assert run.returncode == 0, run.stderr
        unwanted = never + (["pydantic"] if module == "shared.outbox_publisher" else [])
        loaded[spec.name] = [name for name in json.loads(run.stdout) if name in unwanted]

    assert len(loaded) >= 10
    assert loaded == {name: [] for name in loaded}
