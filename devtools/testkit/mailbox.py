"""What SES accepted on moto (its backend keeps every message sent), and the senders SES needs
verified before it sends anything, as deploying requires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from moto.ses.models import ses_backends

from devtools.template import Stacks


@dataclass(frozen=True)
class SentEmail:
    to: list[str]
    sender: str
    subject: str
    body: str


def senders(specs: Mapping[str, Any]) -> set[str]:
    """Every sender address a function's environment names (``SENDER_EMAIL``)."""
    return {spec.environment["SENDER_EMAIL"] for spec in specs.values() if "SENDER_EMAIL" in spec.environment}


def verify_senders(specs: Mapping[str, Any]) -> None:
    """Each sender as a verified SES (v2) identity: SES identities are verified outside
    CloudFormation, once per account."""
    ses = boto3.client("sesv2")
    for sender in senders(specs):
        ses.create_email_identity(EmailIdentity=sender)


def sent_emails(stacks: Stacks) -> list[SentEmail]:
    """Every e-mail SES accepted so far in the account of ``stacks``, oldest first."""
    return [
        SentEmail(message.destinations["ToAddresses"], message.source, message.subject, message.body)
        for message in ses_backends[stacks.account][stacks.region].sent_messages
    ]
