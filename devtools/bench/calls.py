"""Counting and recording the AWS calls code makes, at botocore's one entry point for every API
call (``BaseClient._make_api_call``: each client method, resource action and paginator page goes
through it), so that nothing a handler does is missed, whatever session created its client."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient


@dataclass(frozen=True)
class Call:
    service: str  # as boto3.client() names it: "dynamodb", "events", ...
    operation: str  # "GetItem"
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


@dataclass
class CallRecorder:
    """Records the calls made on the threads where ``recording()`` is active."""

    calls: list[Call] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)

    @contextmanager
    def installed(self) -> Iterator[CallRecorder]:
        original = BaseClient._make_api_call
        recorder = self

        def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            if getattr(recorder._local, "active", False):
                service = client.meta.service_model.service_name
                recorder.calls.append(Call(service, operation_name, api_params))
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = make_api_call
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    @contextmanager
    def recording(self) -> Iterator[list[Call]]:
        """The calls made inside the block (on this thread)."""
        start = len(self.calls)
        was_active = getattr(self._local, "active", False)
        self._local.active = True
        made: list[Call] = []
        try:
            yield made
        finally:
            self._local.active = was_active
            made += self.calls[start:]


def counts(calls: list[Call]) -> Counter[str]:
    return Counter(call.name for call in calls)
