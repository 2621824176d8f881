"""Customer data survives a mistake: every table and the user pool are kept when their stack is
removed or replaces them, in every stage (a throw-away stage's clean-up: docs/deploying.md)."""

import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import APP_SERVICES, Stacks, template_path

STATEFUL = ("AWS::DynamoDB::Table", "AWS::Cognito::UserPool")


def unretained(stacks: Stacks) -> list[str]:
    return [
        f"{service}/{logical_id}"
        for service in stacks.services
        for logical_id, resource in stacks.templates[service].resources.items()
        if resource["Type"] in STATEFUL
        and (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) != ("Retain", "Retain")
    ]


def stateful_lines_cfn_lint_flags(stacks: Stacks, root: Path | None) -> list[str]:
    """cfn-lint's I3011 (no explicit deletion policy) on a table or the user pool."""
    paths = {service: template_path(service, root) for service in stacks.services}
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    lint = subprocess.run(  # noqa: S603 - our own tool and files
        [cfn_lint, "--format", "parseable", "--include-checks", "I3011", "--", *map(str, paths.values())],
        capture_output=True,
        text=True,
        check=False,
    )
    stateful_lines = set()
    for service, path in paths.items():
        lines = path.read_text().splitlines()
        for logical_id, resource in stacks.templates[service].resources.items():
            if resource["Type"] in STATEFUL:
                (number,) = [i + 1 for i, line in enumerate(lines) if line.strip() == f'"{logical_id}": {{']
                stateful_lines.add((str(path), number))
    findings = [line.split(":") for line in lint.stdout.splitlines() if ":I3011:" in line]
    return [":".join(f) for f in findings if (f[0], int(f[1])) in stateful_lines]


def test_every_table_and_the_user_pool_are_retained_in_dev(stacks):
    assert APP_SERVICES
    assert unretained(stacks) == []
    assert stateful_lines_cfn_lint_flags(stacks, None) == []


def test_every_table_and_the_user_pool_are_retained_in_prod(prod_stacks):
    assert unretained(prod_stacks) == []
    assert stateful_lines_cfn_lint_flags(prod_stacks, prod_stacks.packaged) == []


@pytest.mark.parametrize("dropped", ["DeletionPolicy", "UpdateReplacePolicy"])
def test_the_check_catches_a_table_that_would_be_deleted(stacks, dropped):
    table = stacks.templates["orders"].resources["OrdersTable"]
    kept = table.pop(dropped)
    try:
        assert unretained(stacks) == ["orders/OrdersTable"]
    finally:
        table[dropped] = kept
