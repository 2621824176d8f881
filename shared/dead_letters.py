"""A consumer's dead-letter queue, written to directly for messages that no retry can fix."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3

REASON_ATTRIBUTE = "rejection_reason"
MESSAGE_ID_ATTRIBUTE = "original_message_id"


class DeadLetterQueue:
    def __init__(self, queue_name: str, *, region: str) -> None:
        self._queue_name = queue_name
        self._region = region

    # The client and the URL are made on the first rejection: rejections are rare, so most
    # environments never pay for them, and no cold start does.
    @cached_property
    def _client(self) -> Any:
        return boto3.client("sqs", region_name=self._region)

    @cached_property
    def _queue_url(self) -> str:
        url: str = self._client.get_queue_url(QueueName=self._queue_name)["QueueUrl"]
        return url

    def put(self, body: str, *, reason: str, message_id: str) -> None:
        """Keep ``body`` as it came, with why it was rejected and the id of the message it was."""
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason},
                MESSAGE_ID_ATTRIBUTE: {"DataType": "String", "StringValue": message_id},
            },
        )
