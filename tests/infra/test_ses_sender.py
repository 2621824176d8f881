"""The SES sender of the notifications service (services/notifications/resources/ses-sender.js):
a stage that deploys must name it (param senderEmail); only the offline stages keep a placeholder,
and the deliver role may send as the address or as its domain, whichever identity was verified."""

from __future__ import annotations

import os
import subprocess

import pytest

from devtools.template import ROOT, package_stage
from devtools.testkit.fixtures import PROD_SENDER

PLACEHOLDER = "notifications@shop.example"


def _deliver_sender(stacks) -> str:
    return stacks.templates["notifications"].resources["DeliverLambdaFunction"]["Properties"]["Environment"][
        "Variables"
    ]["SENDER_EMAIL"]


def _send_grants(stacks) -> list[str]:
    role = stacks.resolve(
        "notifications", stacks.templates["notifications"].resources["DeliverRole"]["Properties"]
    )
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    return next(s["Resource"] for s in statements if "ses:SendEmail" in s["Action"])


def test_packaging_a_stage_that_deploys_without_a_sender_fails_early_and_says_what_to_set(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        package_stage("prod", tmp_path, ("notifications",))
    output = failed.value.stdout.decode() + failed.value.stderr.decode()
    assert 'stage "prod" has no SES sender' in output
    assert "params.prod.senderEmail" in output
    assert not (tmp_path / "notifications").exists()  # nothing was packaged


def test_a_sender_that_is_no_address_is_refused(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        package_stage("prod", tmp_path, ("notifications",), {"senderEmail": "shop.example.com"})
    assert (
        '"shop.example.com" is not an e-mail address'
        in failed.value.stdout.decode() + failed.value.stderr.decode()
    )


def test_the_stage_sends_as_its_sender_and_may_use_the_address_or_the_domain_identity(prod_stacks):
    assert _deliver_sender(prod_stacks) == PROD_SENDER
    identity = "arn:aws:ses:us-east-1:123456789012:identity/"
    assert _send_grants(prod_stacks) == [identity + PROD_SENDER, identity + PROD_SENDER.split("@")[1]]


def test_the_offline_dev_packaging_keeps_the_placeholder(stacks):
    assert _deliver_sender(stacks) == PLACEHOLDER


def test_deploying_dev_to_aws_needs_a_sender_too(tmp_path):
    """The placeholder is for packaging and the emulator: `osls deploy` to AWS refuses it before
    any call (no credentials here: a call would fail differently)."""
    service = tmp_path / "services" / "notifications"
    service.mkdir(parents=True)
    for name in ("node_modules", "serverless"):  # the framework, the shared blocks serverless.yml includes
        (tmp_path / name).symlink_to(ROOT / name)
    (service / "serverless.yml").write_text((ROOT / "services/notifications/serverless.yml").read_text())
    for folder in ("src", "resources"):
        (service / folder).symlink_to(ROOT / "services/notifications" / folder)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    deploy = subprocess.run(  # noqa: S603 - the project's own CLI
        [str(ROOT / "node_modules/.bin/osls"), "deploy", "--stage", "dev"],
        cwd=service,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert deploy.returncode != 0
    assert 'stage "dev" has no SES sender' in deploy.stdout + deploy.stderr
    assert not (service / ".serverless").exists()
