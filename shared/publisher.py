"""Publishing domain events to the shared EventBridge bus, without ever dropping one silently.

``PutEvents`` takes at most 10 entries a call and may accept some and refuse others (throttling,
internal errors). Only the refused entries are sent again, with exponential backoff and jitter;
whatever still fails after ``max_attempts`` raises ``PublishError`` naming each failed entry, so
the caller (an outbox stream consumer) reports the failure and the records are retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:  # an annotation only: the stream publishers never load the event models
    from shared.events.envelope import Envelope

MAX_ENTRIES_PER_CALL = 10
RETRYABLE_CALL_ERRORS = frozenset(
    {"ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable"}
)


@dataclass(frozen=True)
class FailedEntry:
    entry: dict[str, str]
    error_code: str
    error_message: str


class PublishError(Exception):
    """Some events could not be published after every attempt; none of them is lost."""

    def __init__(self, failed: list[FailedEntry]) -> None:
        self.failed = failed
        codes = sorted({f.error_code for f in failed})
        super().__init__(f"{len(failed)} event(s) not published: {', '.join(codes)}")


class EventPublisher:
    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def publish(self, events: Sequence[Envelope[Any]]) -> None:
        self.put_entries([event.to_entry(self._bus_name) for event in events])

    def put_entries(self, entries: Sequence[dict[str, str]]) -> None:
        """Send ready-made ``PutEvents`` entries, ``MAX_ENTRIES_PER_CALL`` per call, in order.

        Once a call's entries fail for good, the later entries are not sent: the caller retries
        from the first failure (a stream resumes there), so sending them now would only publish
        them twice.
        """
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            failed = self._put_batch(entries[start : start + MAX_ENTRIES_PER_CALL])
            if failed:
                not_sent = entries[start + MAX_ENTRIES_PER_CALL :]
                raise PublishError(
                    failed + [FailedEntry(e, "NotAttempted", "an earlier entry failed") for e in not_sent]
                )

    def _put_batch(self, pending: Sequence[dict[str, str]]) -> list[FailedEntry]:
        failed: list[FailedEntry] = []
        for attempt in range(self._max_attempts):
            if attempt:
                self._backoff(attempt)
            try:
                response = self._client.put_events(Entries=pending)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "ClientError")
                if code not in RETRYABLE_CALL_ERRORS:
                    raise
                failed = [FailedEntry(e, code, str(error)) for e in pending]
                continue
            if not response.get("FailedEntryCount"):
                return []
            # Results are positional: the i-th result answers the i-th entry.
            failed = [
                FailedEntry(entry, result.get("ErrorCode", "Unknown"), result.get("ErrorMessage", ""))
                for entry, result in zip(pending, response["Entries"], strict=True)
                if "ErrorCode" in result
            ]
            pending = [f.entry for f in failed]
        return failed

    def _backoff(self, attempt: int) -> None:
        ceiling = min(self._max_delay, self._base_delay * 2**attempt)
        self._sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not cryptography
