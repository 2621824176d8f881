import json

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.events import Envelope
from shared.events.users import UserDeleted
from shared.publisher import EventPublisher, PublishError


def events(count: int) -> list[Envelope]:
    return [
        Envelope.wrap(UserDeleted(user_id=f"u{i}", deleted_at="2026-01-01T00:00:00Z"), correlation_id="c")
        for i in range(count)
    ]


class FlakyEventBridge:
    """Wraps a real (moto) client; refuses chosen entries of chosen calls, as PutEvents does."""

    def __init__(self, client, refuse):
        self.client = client
        self.refuse = refuse  # (call number, entry) -> error code or None
        self.calls: list[list[str]] = []

    def put_events(self, Entries):
        call = len(self.calls)
        self.calls.append([json.loads(e["Detail"])["data"]["user_id"] for e in Entries])
        outcome = [self.refuse(call, e) for e in Entries]
        if all(code == "ThrottlingException" for code in outcome):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutEvents")
        accepted = [e for e, code in zip(Entries, outcome, strict=True) if code is None]
        results = iter(self.client.put_events(Entries=accepted)["Entries"] if accepted else [])
        entries = [
            next(results) if code is None else {"ErrorCode": code, "ErrorMessage": "x"} for code in outcome
        ]
        return {"FailedEntryCount": sum(code is not None for code in outcome), "Entries": entries}


@pytest.fixture
def received(bus_recorder):
    """The user ids of the events that reached the bus since the last call."""
    return lambda: [event["detail"]["data"]["user_id"] for event in bus_recorder.new()]


def test_publishes_in_calls_of_at_most_ten(received):
    client = FlakyEventBridge(boto3.client("events"), lambda call, entry: None)
    EventPublisher(client, "shop-dev", sleep=lambda s: None).publish(events(23))
    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert sorted(received()) == sorted(f"u{i}" for i in range(23))


def test_retries_only_the_refused_entries_until_all_are_published(received):
    # Every third entry is refused on its first try: ~30% failed entries.
    client = FlakyEventBridge(
        boto3.client("events"),
        lambda call, entry: (
            "InternalFailure"
            if call == 0 and json.loads(entry["Detail"])["data"]["user_id"] in {"u0", "u3", "u6", "u9"}
            else None
        ),
    )
    EventPublisher(client, "shop-dev", sleep=lambda s: None).publish(events(10))
    assert client.calls[1] == ["u0", "u3", "u6", "u9"]
    seen = received()
    assert sorted(seen) == sorted(f"u{i}" for i in range(10))
    assert len(seen) == len(set(seen))  # nothing published twice


def test_throttled_calls_are_retried_with_backoff(received):
    delays = []
    client = FlakyEventBridge(
        boto3.client("events"), lambda call, entry: "ThrottlingException" if call < 2 else None
    )
    EventPublisher(client, "shop-dev", sleep=delays.append).publish(events(3))
    assert len(client.calls) == 3
    assert len(delays) == 2
    assert sorted(received()) == ["u0", "u1", "u2"]


def test_raises_with_the_entries_that_never_got_through(received):
    client = FlakyEventBridge(
        boto3.client("events"),
        lambda call, entry: (
            "InternalFailure" if json.loads(entry["Detail"])["data"]["user_id"] == "u1" else None
        ),
    )
    publisher = EventPublisher(client, "shop-dev", max_attempts=3, sleep=lambda s: None)
    with pytest.raises(PublishError) as raised:
        publisher.publish(events(3))
    assert [json.loads(f.entry["Detail"])["data"]["user_id"] for f in raised.value.failed] == ["u1"]
    assert raised.value.failed[0].error_code == "InternalFailure"
    assert len(client.calls) == 3
    assert sorted(received()) == ["u0", "u2"]


def test_non_retryable_errors_propagate(aws):
    publisher = EventPublisher(boto3.client("events"), "no-such-bus", sleep=lambda s: None)
    with pytest.raises(ClientError):
        publisher.publish(events(1))


def test_after_a_call_fails_for_good_the_later_entries_wait_for_the_retry(received):
    client = FlakyEventBridge(
        boto3.client("events"),
        lambda call, entry: (
            "InternalFailure" if json.loads(entry["Detail"])["data"]["user_id"] == "u3" else None
        ),
    )
    publisher = EventPublisher(client, "shop-dev", max_attempts=2, sleep=lambda s: None)
    with pytest.raises(PublishError) as raised:
        publisher.publish(events(23))
    assert len(client.calls) == 2  # the first ten, then "u3" again; the last 13 are never sent
    codes = [f.error_code for f in raised.value.failed]
    assert codes == ["InternalFailure"] + ["NotAttempted"] * 13
    assert sorted(received()) == sorted(f"u{i}" for i in range(10) if i != 3)
