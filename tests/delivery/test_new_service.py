"""`make new-service` on a fresh clone: one service of each kind is generated, packaged, passes its
own tests and every infrastructure check that reads it, and takes its place in compose, the deploy
roles and workflow, the local stack's routes, openapi/ and `make changed`, with no other edit.

The clone shares this checkout's virtualenvs, node_modules and wheel cache (links), and a copy of
the other services' packaged output, so only the new service is packaged: about a minute each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.scaffold import NewServiceError, check_name
from devtools.template import APP_SERVICES, ROOT, SERVICES

OSLS = ROOT / "node_modules" / ".bin" / "osls"
# The checks that read every service's templates: those parametrized by service run on the new one
# alone (-k), the rest (cfn-lint, compose, deploy roles, routes) over every service.
CHECKS = [
    "tests/infra/test_templates.py",
    "tests/infra/test_iam.py",
    "tests/infra/test_zip.py",
    "tests/infra/test_sample_events.py",
    "tests/infra/test_dashboards.py",
    "tests/infra/test_observability.py",
    "tests/infra/test_data_retention.py",
    "tests/infra/test_gradual_deploys.py",
    "tests/security/test_checkov.py",
    "tests/security/test_data_protection.py",
    "tests/security/test_routes_require_auth.py",
    "tests/security/test_openapi.py",
    "tests/delivery/test_workflows.py",
]
# Whole-system tests that package prod, run the local stack or regress the checks themselves on the
# existing services: not about the new one.
NOT_ABOUT_IT = "prod or regression or catches or open_door or fuzz or _check_ or the_lint"


def run(clone: Path, *command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - the project's own tools on a temporary clone
        [str(part) for part in command],
        cwd=cwd or clone,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_"))},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{command}: {result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)  # noqa: S603, S607
    for name in ("node_modules", ".venv", ".venv-checkov"):
        (clone / name).symlink_to(ROOT / name)
    (clone / ".cache").mkdir()
    (clone / ".cache" / "lambda-deps").symlink_to(ROOT / ".cache" / "lambda-deps")
    for service in SERVICES:
        packaged = Path("services") / service / ".serverless"
        shutil.copytree(ROOT / packaged, clone / packaged)
    return clone


@pytest.mark.parametrize(("name", "kind"), [("ledger", "api"), ("signups", "consumer")])
def test_a_new_service_packages_passes_its_tests_and_every_check(clone, name, kind):
    python = sys.executable
    run(clone, python, "-m", "devtools.scaffold", name, kind)
    service = clone / "services" / name
    run(clone, OSLS, "package", "--stage", "dev", cwd=service)
    if kind == "api":
        run(clone, python, "-m", "devtools.contracts.openapi", "write")
        assert (clone / "openapi" / f"{name}.json").exists()
    run(clone, python, "-m", "ruff", "check", ".")
    run(clone, python, "-m", "ruff", "format", "--check", ".")
    run(clone, python, "-m", "mypy", f"services/{name}/src/{name}/domain")  # strict, as make lint

    run(clone, python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"services/{name}")
    selection = f"({name} or not ({' or '.join(APP_SERVICES)})) and not ({NOT_ABOUT_IT})"
    run(clone, python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", selection, *CHECKS)

    # Its place everywhere the service list is derived: the local stack's routes, compose's order.
    listed = run(
        clone,
        python,
        "-c",
        "from devtools.template import Stacks, SERVICES, APP_SERVICES, HTTP_SERVICES; "
        "from devtools.emulator.apigw import routes; "
        "print(SERVICES, APP_SERVICES, HTTP_SERVICES); "
        f"print(sorted(r.route_key for r in routes(Stacks()) if r.service == {name!r}))",
    )
    services, routes = listed.splitlines()
    assert f"'{name}'" in services
    assert routes == (f"['GET /{name}/{{id}}', 'POST /{name}']" if kind == "api" else "[]")

    run(clone, "git", "add", "-A")
    run(clone, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "new")
    # Compose changed too, so every service is affected, the new one in its deploy order.
    affected = run(clone, python, ".ci/changed.py", "HEAD~1").split()
    assert name in affected
    assert (
        affected
        == run(clone, python, "-c", "from devtools.template import SERVICES; print(*SERVICES)").split()
    )


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("users", "exists already"),
        ("json", "importable module"),  # its src/ on the path would hide the standard library's
        ("Ledger", "lowercase"),
        ("x", "2 to 20"),
        ("averyveryverylongservicename", "2 to 20"),
    ],
)
def test_a_name_that_would_clash_or_not_fit_is_refused(name, complaint):
    with pytest.raises(NewServiceError, match=complaint):
        check_name(name, ROOT)
