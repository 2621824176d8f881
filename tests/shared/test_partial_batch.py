"""Partial batch responses as Lambda reads them (ReportBatchItemFailures), on the record shapes of
SQS and DynamoDB Streams."""

from __future__ import annotations

from typing import Any

import pytest

from shared.partial_batch import BatchFailed, process_batch, sqs_message_id, stream_sequence_number


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": "h", "body": body, "eventSource": "aws:sqs"}


def stream_record(sequence: str) -> dict[str, Any]:
    return {"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": sequence}}


def test_a_failed_record_is_reported_and_the_later_ones_are_still_handled():
    handled = []

    def handle(record: dict[str, Any]) -> None:
        if record["body"] == "bad":
            raise ValueError("unreadable")
        handled.append(record["messageId"])

    event = {"Records": [sqs_record("m1", "ok"), sqs_record("m2", "bad"), sqs_record("m3", "ok")]}

    assert process_batch(event, handle, sqs_message_id) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert handled == ["m1", "m3"]


def test_a_batch_whose_every_record_failed_raises_as_powertools_does():
    """Lambda retries it whole either way; raising counts it in the function's Errors metric,
    which the consumers' alarms (and prod's gradual deploys) watch."""
    tried = []

    def handle(record: dict[str, Any]) -> None:
        tried.append(record["dynamodb"]["SequenceNumber"])
        raise RuntimeError("down")

    event = {"Records": [stream_record("100"), stream_record("200")]}

    with pytest.raises(BatchFailed, match="all 2 records"):
        process_batch(event, handle, stream_sequence_number)
    assert tried == ["100", "200"]


def test_an_empty_batch_is_not_a_failure():
    assert process_batch({"Records": []}, lambda record: None, sqs_message_id) == {"batchItemFailures": []}
