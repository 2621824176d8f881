"""The GitHub Actions workflows: actionlint clean, OIDC only, and in step with `make changed`."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import yaml

from devtools.template import ROOT, SERVICES

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"
_spec = importlib.util.spec_from_file_location("changed", ROOT / ".ci" / "changed.py")
changed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(changed)


def workflow(name: str) -> dict:
    # PyYAML reads the `on:` key as True.
    return yaml.safe_load((WORKFLOWS / name).read_text())


def actionlint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own tool
        [str(ACTIONLINT), "-no-color"], cwd=root, capture_output=True, text=True, check=False
    )


def test_actionlint_finds_nothing_in_the_workflows():
    lint = actionlint(ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = (WORKFLOWS / "deploy-stage.yml").read_text().replace("role-to-assume:", "role-to-asume:", 1)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "deploy-stage.yml").write_text(broken)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # noqa: S603, S607
    lint = actionlint(tmp_path)
    assert lint.returncode == 1
    assert 'input "role-to-asume" is not defined' in lint.stdout


def test_no_workflow_reads_a_secret_or_an_aws_key():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "secrets." not in text, path.name
        assert not re.search(r"aws-(access-key-id|secret-access-key|session-token)", text), path.name


def test_every_pull_request_runs_make_test():
    ci = workflow("ci.yml")
    assert "pull_request" in ci[True]
    assert "paths" not in (ci[True]["pull_request"] or {})
    steps = ci["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_main_deploys_dev_after_the_tests_then_prod_after_dev():
    deploy = workflow("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    assert "make --no-print-directory changed" in jobs["changes"]["steps"][-1]["run"]
    for stage, needs in (("dev", {"test", "changes"}), ("prod", {"changes", "dev"})):
        job = jobs[stage]
        assert job["uses"] == "./.github/workflows/deploy-stage.yml"
        assert job["with"]["stage"] == stage
        assert set(job["needs"]) == needs
        assert job["permissions"]["id-token"] == "write"


def test_a_push_that_touches_any_service_input_runs_the_deploy():
    """The workflow's path filter is the union of what .ci/changed.py counts as a service's input."""
    paths = workflow("deploy.yml")[True]["push"]["paths"]
    for path in (*changed.EVERY_SERVICE, *changed.EVERY_FUNCTION, "services/"):
        expected = f"{path}**" if path.endswith("/") else path
        assert expected in paths, f"{path} changes a service but does not trigger the deploy"


def test_each_service_deploys_with_its_own_role_in_compose_order():
    job = workflow("deploy-stage.yml")["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.stage }}"
    steps = job["steps"]
    deployed = []
    for index, step in enumerate(steps):
        found = re.fullmatch(r'make deploy SERVICE=(\w+) STAGE="\$STAGE"', step.get("run", ""))
        if not found:
            continue
        service = found.group(1)
        credentials = steps[index - 1]
        assert credentials["uses"].startswith(CREDENTIALS_ACTION)
        assert credentials["with"]["role-to-assume"] == "${{ env.ROLE_PREFIX }}-" + service
        assert credentials["if"] == step["if"] == f"contains(fromJSON(inputs.services), '{service}')"
        deployed.append(service)
    assert deployed == changed.Services(ROOT).deploy_order()
    assert sorted(deployed) == sorted(SERVICES)
    assert job["env"]["ROLE_PREFIX"] == "arn:aws:iam::${{ vars.AWS_ACCOUNT_ID }}:role/shop-deploy"


def test_credentials_come_only_through_oidc():
    stage = workflow("deploy-stage.yml")
    assert stage["permissions"]["id-token"] == "write"
    for name in ("ci.yml", "deploy.yml"):
        assert "id-token" not in workflow(name).get("permissions", {}), name
    for path in WORKFLOWS.glob("*.yml"):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith(CREDENTIALS_ACTION):
                    assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
