"""A batch from SQS or a DynamoDB stream, handled record by record, the failed ones reported
(``ReportBatchItemFailures``): Lambda retries those alone (a stream resumes from the lowest).

What Powertools' ``BatchProcessor`` with ``process_partial_response`` does for these two sources
(a batch whose every record failed raises, as there: Lambda retries it whole either way, and the
function's ``Errors`` metric, which the consumers' alarms and gradual deploys watch, counts it),
without its import: the ``utilities.batch`` package loads ``asyncio`` and, when pydantic is already
loaded (every consumer's models), Powertools' own pydantic models of SQS, DynamoDB, Kinesis and
Kafka records, for type hints only; about 120 ms of CPU at each cold start, a third of boto3's
import (measured in docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict


class ItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


class BatchFailed(Exception):
    """Every record of a batch failed (each one logged why)."""


def sqs_message_id(record: Mapping[str, Any]) -> str:
    return str(record["messageId"])


def stream_sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def process_batch(
    event: Mapping[str, Any],
    handle: Callable[[dict[str, Any]], object],
    identify: Callable[[Mapping[str, Any]], str],
) -> PartialBatchResponse:
    """``handle`` each record of ``event`` in order; a record that raises is reported by
    ``identify(record)`` (``handle`` logs why), and the next ones are still handled. Raises
    ``BatchFailed`` when every record failed."""
    records = event["Records"]
    failures: list[ItemFailure] = []
    for record in records:
        try:
            handle(record)
        except Exception:  # whatever the failure, the record alone is retried
            failures.append({"itemIdentifier": identify(record)})
    if records and len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records of the batch failed")
    return {"batchItemFailures": failures}
