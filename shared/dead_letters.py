"""A consumer's dead-letter queue, written to directly for messages that no retry can fix."""

from __future__ import annotations

from functools import cached_property
from typing import Any

REASON_ATTRIBUTE = "rejection_reason"
MESSAGE_ID_ATTRIBUTE = "original_message_id"


class DeadLetterQueue:
    def __init__(self, client: Any, queue_name: str) -> None:
        self._client = client
        self._queue_name = queue_name

    @cached_property
    def _queue_url(self) -> str:
        # Looked up on first use: rejections are rare, and cold starts pay nothing for it.
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
