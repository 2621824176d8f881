"""checkov on every packaged template: no failed check but those checkov.allowlist.yml excuses, and
no excuse left that matches nothing.

checkov pins a ``packaging`` that pytest cannot live with, so it runs from its own virtualenv,
``.venv-checkov`` (``make install`` creates it), once for all templates.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from devtools.template import ROOT, SERVICES, template_path

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
ALLOWLIST = ROOT / "checkov.allowlist.yml"


@dataclass(frozen=True)
class Finding:
    check_id: str
    service: str
    resource: str  # logical id
    title: str

    @property
    def where(self) -> str:
        return f"{self.service}/{self.resource}"


@dataclass(frozen=True)
class Scan:
    failed: list[Finding]
    scanned_services: set[str]
    parsing_errors: list[str]


def _service_of(file_path: str) -> str:
    parts = Path(file_path).parts
    return parts[parts.index("services") + 1]


def run_checkov(paths: list[Path], root: Path = ROOT) -> Scan:
    arguments = ["--framework", "cloudformation", "--output", "json", "--quiet", "--skip-download"]
    # Paths relative to the root: checkov's parser adds the path it was given to every mapping as
    # `__file__`, and CKV_AWS_45 reads that key as an environment variable, so an absolute path
    # whose run of [A-Za-z0-9/] is 40 characters long (/check/work/main/services/notifications/)
    # "is" an AWS secret key. Relative, the findings do not depend on where the clone lives.
    for path in paths:
        arguments += ["--file", str(path.relative_to(root))]
    # --skip-download: no call to Prisma Cloud for check metadata; the run stays offline.
    completed = subprocess.run(  # noqa: S603 - our own tool on our own files
        [str(CHECKOV), *arguments], capture_output=True, text=True, check=False, cwd=root
    )
    assert completed.returncode in (0, 1), completed.stderr[-3000:]
    reports = json.loads(completed.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed, scanned, errors = [], set(), []
    for report in reports:
        results = report.get("results", {})
        for outcome in results.get("passed_checks", []) + results.get("failed_checks", []):
            scanned.add(_service_of(outcome["file_path"]))
        failed += [
            Finding(
                f["check_id"], _service_of(f["file_path"]), f["resource"].rsplit(".", 1)[1], f["check_name"]
            )
            for f in results.get("failed_checks", [])
        ]
        errors += results.get("parsing_errors", [])
    return Scan(failed, scanned, errors)


@pytest.fixture(scope="module")
def checkov() -> Path:
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV.relative_to(ROOT)} is absent: `make install` creates it")
    return CHECKOV


@pytest.fixture(scope="module")
def scan(checkov) -> Scan:
    return run_checkov([template_path(service) for service in SERVICES])


@pytest.fixture(scope="module")
def allowlist() -> dict[str, dict]:
    return yaml.safe_load(ALLOWLIST.read_text())


def excused(finding: Finding, allowlist: dict[str, dict]) -> bool:
    entry = allowlist.get(finding.check_id)
    if entry is None:
        return False
    patterns = entry.get("resources")
    return patterns is None or any(fnmatch(finding.where, pattern) for pattern in patterns)


def stale_entries(failed: list[Finding], allowlist: dict[str, dict]) -> list[str]:
    """Entries, or ``resources`` patterns of an entry, that match no failed check."""
    stale = []
    for check_id, entry in allowlist.items():
        matching = [f for f in failed if f.check_id == check_id]
        if not matching:
            stale.append(check_id)
        for pattern in entry.get("resources") or []:
            if not any(fnmatch(f.where, pattern) for f in matching):
                stale.append(f"{check_id} {pattern}")
    return stale


def test_checkov_read_every_template(scan):
    assert not scan.parsing_errors
    assert scan.scanned_services == set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_no_failed_check_outside_the_allowlist(scan, allowlist, service):
    unexcused = [f for f in scan.failed if f.service == service and not excused(f, allowlist)]
    assert not unexcused, "\n".join(f"{f.check_id} {f.where}: {f.title}" for f in unexcused)


def test_every_allowlist_entry_still_excuses_a_failure(scan, allowlist):
    assert not stale_entries(scan.failed, allowlist)


def test_every_allowlist_entry_gives_a_reason(allowlist):
    for check_id, entry in allowlist.items():
        assert len(entry.get("reason", "").split()) >= 10, f"{check_id}: say why it is acceptable"
        assert entry.get("check"), f"{check_id}: name what the check asks for"


def test_the_gate_fails_on_an_unexcused_finding_and_on_a_stale_entry():
    """The two rules above, on made-up findings: neither can pass vacuously."""
    allowlist = {"CKV_AWS_18": {"resources": ["*/ServerlessDeploymentBucket"]}, "CKV_AWS_117": {}}
    bucket = Finding("CKV_AWS_18", "users", "ServerlessDeploymentBucket", "")
    other_bucket = Finding("CKV_AWS_18", "users", "UploadsBucket", "")
    vpc = Finding("CKV_AWS_117", "orders", "ApiLambdaFunction", "")

    assert excused(bucket, allowlist)
    assert excused(vpc, allowlist)
    assert not excused(other_bucket, allowlist)
    assert not excused(Finding("CKV_AWS_27", "users", "Queue", ""), allowlist)
    assert stale_entries([bucket, vpc], allowlist) == []
    assert stale_entries([bucket], allowlist) == ["CKV_AWS_117"]
    assert stale_entries([other_bucket, vpc], allowlist) == ["CKV_AWS_18 */ServerlessDeploymentBucket"]


def test_findings_do_not_depend_on_where_the_clone_lives(checkov, scan, tmp_path):
    """A clone whose absolute path makes ``<...>/services/notifications/`` a 40-character run of
    [A-Za-z0-9/] (CI's /check/work/main did) gets the same findings as this one."""
    service = "notifications"
    suffix = f"/services/{service}/"
    root = tmp_path / ("clone-" + "x" * (40 - len(suffix)))  # the '-' starts the run
    copy = root / template_path(service).relative_to(ROOT)
    copy.parent.mkdir(parents=True)
    copy.write_text(template_path(service).read_text())
    assert len(str(copy.parents[1]).rsplit("-", 1)[1] + "/") == 40

    elsewhere = run_checkov([copy], root=root)

    assert {(f.check_id, f.resource) for f in elsewhere.failed} == {
        (f.check_id, f.resource) for f in scan.failed if f.service == service
    }


def test_no_failed_check_outside_the_allowlist_in_prod_either(checkov, allowlist, prod_stacks, tmp_path):
    """prod adds SnapStart's aliases and the gradual deploys' CodeDeploy application, deployment
    groups, role and aliases; laid out as services/<x>/.serverless/ so findings name the service."""
    paths = []
    for service in prod_stacks.services:
        copy = tmp_path / template_path(service).relative_to(ROOT)
        copy.parent.mkdir(parents=True)
        copy.write_text(template_path(service, prod_stacks.packaged).read_text())
        paths.append(copy)
    prod = run_checkov(paths, root=tmp_path)
    assert not prod.parsing_errors
    assert prod.scanned_services == set(prod_stacks.services)
    unexcused = [f for f in prod.failed if not excused(f, allowlist)]
    assert not unexcused, "\n".join(f"{f.check_id} {f.where}: {f.title}" for f in unexcused)
