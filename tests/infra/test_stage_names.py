"""A stage is checked before anything is packaged (tools/osls-stage-names): a stage too long for a
name built from it, or with characters AWS names refuse, stops `osls package` with the reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools.testkit.packaging import copy_services, osls


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the services beside links to what they package from, so the repo's own packages stay."""
    return copy_services(tmp_path_factory.mktemp("stage-names"), "bus", "orders")


def package(repo: Path, service: str, stage: str) -> subprocess.CompletedProcess:
    return osls(repo, service, "package", "--stage", stage)


def test_a_stage_too_long_for_a_function_name_is_refused_with_the_longest_that_fits(repo):
    stage = "s" * 36  # shop-orders-<stage>-start-fulfilment: 65 characters
    run = package(repo, "orders", stage)
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert f"shop-orders-{stage}-start-fulfilment: 65 characters, Lambda function allows 64" in output
    assert "Use a stage of at most 35 characters." in output
    assert not (repo / "services" / "orders" / ".serverless").exists()


def test_the_longest_stage_that_fits_packages(repo):
    run = package(repo, "orders", "s" * 35)
    assert run.returncode == 0, run.stdout + run.stderr
    template = (repo / "services/orders/.serverless/cloudformation-template-update-stack.json").read_text()
    assert f'"shop-orders-{"s" * 35}-start-fulfilment"' in template


def test_a_stage_too_long_for_the_bus_archive_is_refused(repo):
    run = package(repo, "bus", "b" * 40)  # shop-<stage>-all: 50 characters, archives allow 48
    assert run.returncode != 0
    assert "AWS::Events::Archive allows 48" in run.stdout + run.stderr


def test_a_stage_with_characters_aws_names_refuse_is_refused(repo):
    run = package(repo, "bus", "feature/x")
    assert run.returncode != 0
    assert "Invalid stage name" in run.stdout + run.stderr
