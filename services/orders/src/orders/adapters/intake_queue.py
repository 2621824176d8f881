"""The intake queue: accepted orders wait here until the intake consumer records them."""

from __future__ import annotations

from typing import Any

from orders.domain.model import NewOrder


class SqsIntakeQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, order: NewOrder) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=order.model_dump_json())
