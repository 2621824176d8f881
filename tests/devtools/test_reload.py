"""Which edits reload what: the watchers of ``devtools.local.reload`` on a real folder (watchfiles)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.local.reload import watch_definitions
from tests.e2e.local_stack import wait_until

SERVICES = ("orders", "users")
QUIET_CHECK = 1.5  # seconds after a reload in which no second one may come


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for service in SERVICES:
        (tmp_path / "services" / service / "src").mkdir(parents=True)
        (tmp_path / "services" / service / "serverless.yml").write_text("service: x\n")
    (tmp_path / "serverless").mkdir()
    (tmp_path / "serverless" / "provider.yml").write_text("name: aws\n")
    return tmp_path


@pytest.fixture
def reloads(root: Path) -> Iterator[list[tuple[list[str], str]]]:
    """The reloads ``watch_definitions`` asks for, as (services, files changed)."""
    asked: list[tuple[list[str], str]] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_definitions, args=(root, SERVICES, lambda *reload: asked.append(reload), stop)
    )
    watcher.start()
    time.sleep(0.5)  # watching
    yield asked
    stop.set()
    watcher.join(timeout=10)


def test_saves_in_a_row_of_a_serverless_yml_reload_its_service_once(
    root: Path, reloads: list[tuple[list[str], str]]
) -> None:
    definition = root / "services" / "users" / "serverless.yml"
    for save in range(3):
        definition.write_text(f"service: x\n# save {save}\n")
        time.sleep(0.1)
    (root / "services" / "users" / "src" / "handler.py").write_text("# code, not a definition\n")

    wait_until(lambda: reloads, 10, "a reload")
    time.sleep(QUIET_CHECK)

    assert reloads == [(["users"], "services/users/serverless.yml")]


def test_an_edit_to_a_shared_block_reloads_every_service(
    root: Path, reloads: list[tuple[list[str], str]]
) -> None:
    (root / "serverless" / "provider.yml").write_text("name: aws\nruntime: python3.13\n")

    wait_until(lambda: reloads, 10, "a reload")

    assert reloads == [(list(SERVICES), "serverless/provider.yml")]
