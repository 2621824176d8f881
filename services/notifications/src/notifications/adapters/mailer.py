"""Sending e-mail through Amazon SES (API v2).

Whatever the endpoint records is what would be sent: moto's SES backend keeps every accepted
message (``moto.ses.models.ses_backends[account][region].sent_messages``), in tests and in the
local stack alike. The sender must be a verified SES identity, there as in AWS.
"""

from __future__ import annotations

from typing import Any

from notifications.domain.templates import Email


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, to: str, email: Email) -> str:
        response = self._client.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": [to]},
            Content={
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": email.body, "Charset": "UTF-8"}},
                }
            },
        )
        return response["MessageId"]
