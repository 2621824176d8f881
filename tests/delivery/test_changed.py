"""`make changed`: the services a change affects, in deploy order, on a temporary git repository.

The repository holds copies of the real serverless.yml files and serverless-compose.yml, so the
service list, the functions and the dependency order come from what deploys.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from devtools.template import APP_SERVICES, ROOT, SERVICES

SCRIPT = ROOT / ".ci" / "changed.py"
EVERY = list(SERVICES)  # bus, users, orders, notifications: compose's order
WITH_FUNCTIONS = list(APP_SERVICES)


def git(repo, *args: str) -> str:
    return subprocess.run(  # noqa: S603 - git on a temporary repository
        ["git", "-C", str(repo), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def changed(repo, base: str = "base") -> list[str]:
    run = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), base],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.split()


def commit_change(repo, *paths: str) -> None:
    for path in paths:
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as file:
            file.write("\n# changed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"change {paths}")


@pytest.fixture
def repo(tmp_path):
    shutil.copy(ROOT / "serverless-compose.yml", tmp_path)
    shutil.copytree(ROOT / "serverless", tmp_path / "serverless")
    for service in SERVICES:
        (tmp_path / "services" / service).mkdir(parents=True)
        shutil.copy(ROOT / "services" / service / "serverless.yml", tmp_path / "services" / service)
    for path in ("shared/events.py", "requirements/lambda.txt", "tools/bundle.py", "docs/x.md", "README.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x = 1\n")
    (tmp_path / "package-lock.json").write_text("{}\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "ci")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    git(tmp_path, "tag", "base")
    return tmp_path


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["services/orders/src/orders/handlers/api.py"], ["orders"]),
        (["services/users/tests/test_api.py"], ["users"]),
        # The users template makes the JWT issuer orders and notifications take through compose.
        (["services/users/serverless.yml"], ["users", "orders", "notifications"]),
        (["services/bus/serverless.yml"], EVERY),
        (["shared/events.py"], WITH_FUNCTIONS),
        (["requirements/lambda.txt"], WITH_FUNCTIONS),
        (["tools/bundle.py"], WITH_FUNCTIONS),
        (["package-lock.json"], EVERY),
        (["serverless-compose.yml"], EVERY),
        (["services/notifications/README.md", "services/orders/src/x.py"], ["orders", "notifications"]),
        (["docs/x.md", "README.md"], []),
    ],
)
def test_a_change_affects_the_services_built_from_it_in_deploy_order(repo, paths, expected):
    commit_change(repo, *paths)
    assert changed(repo) == expected


def test_a_file_a_service_includes_affects_that_service(repo):
    with (repo / "services/orders/serverless.yml").open("a") as file:
        file.write("custom:\n  alarms: ${file(../../config/alarms.yml)}\n")
    (repo / "config").mkdir()
    (repo / "config/alarms.yml").write_text("a: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "include")
    git(repo, "tag", "-f", "included")
    commit_change(repo, "config/alarms.yml")
    assert changed(repo, "included") == ["orders"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # Every application service includes them; the users template's outputs reach the others.
        ("serverless/params.yml", WITH_FUNCTIONS),
        ("serverless/provider.yml", WITH_FUNCTIONS),
        # Included by params.yml, not by any serverless.yml itself.
        ("serverless/jwt.yml", WITH_FUNCTIONS),
        # The services that publish through an outbox, and those that take the users outputs.
        ("serverless/outbox.yml", ["users", "orders", "notifications"]),
        # The consumer queue of notifications alone, whose outputs no service takes.
        ("serverless/event-queue.yml", ["notifications"]),
    ],
)
def test_a_shared_block_affects_the_services_that_include_it(repo, path, expected):
    commit_change(repo, path)
    assert changed(repo) == expected


def test_a_base_git_does_not_know_affects_every_service(repo):
    assert changed(repo, "0000000000000000000000000000000000000000") == EVERY


def test_every_change_since_the_base_counts_not_only_the_last_commit(repo):
    commit_change(repo, "services/users/src/users/x.py")
    commit_change(repo, "docs/x.md")
    assert changed(repo) == ["users"]


def test_make_changed_prints_the_services_alone():
    """The workflows read the target's standard output: nothing but service names."""
    run = subprocess.run(
        ["make", "--no-print-directory", "changed", "BASE=no-such-ref"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.split() == EVERY
