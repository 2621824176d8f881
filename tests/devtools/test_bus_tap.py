"""The bus tap logs every event of a round, and its queue never holds more than its limit."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from devtools.local import bus_tap
from devtools.local.bus_tap import BusTap
from devtools.template import Stacks


def _tap(aws: Stacks) -> BusTap:
    tap = BusTap(aws, boto3.client("sqs"), boto3.client("events"), mappings=[], invoke=lambda *_: None)
    tap.install()
    return tap


def _publish(aws: Stacks, count: int) -> None:
    events = boto3.client("events")
    bus = aws.physical_name("bus", "EventBus")
    for start in range(0, count, 10):
        entries = [
            {"EventBusName": bus, "Source": "test", "DetailType": "Tick", "Detail": json.dumps({"n": n})}
            for n in range(start, min(start + 10, count))
        ]
        events.put_events(Entries=entries)


def _waiting(tap: BusTap) -> int:
    return sum(
        int(
            tap.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
        )
        for url in tap.queues.values()
    )


def test_one_round_logs_every_event_waiting(aws: Stacks, caplog: pytest.LogCaptureFixture) -> None:
    tap = _tap(aws)
    _publish(aws, 35)

    with caplog.at_level(logging.INFO, logger="devtools.bus"):
        assert tap.pump() == 35

    assert sum("test Tick" in line for line in caplog.messages) == 35
    assert _waiting(tap) == 0


def test_a_backlog_over_the_limit_is_dropped_with_a_warning(
    aws: Stacks, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bus_tap, "BACKLOG_LIMIT", 20)
    tap = _tap(aws)
    _publish(aws, 25)

    assert tap.pump() == 0

    assert _waiting(tap) == 0
    assert any("25 events waited to be logged (over 20)" in line for line in caplog.messages)
