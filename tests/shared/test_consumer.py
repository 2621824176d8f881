import json

import pytest

from devtools.testkit.eventbridge import eventbridge_event
from devtools.testkit.records import sqs_record
from shared.consumer import InvalidEvent, UnknownEvent, parse_eventbridge_event, parse_sqs_record
from shared.events import Envelope
from shared.events.users import UserCreated, UserDeleted
from shared.observability import logger


def user_created_event() -> dict:
    created = UserCreated(
        user_id="u1", email="ada@example.com", name="Ada", version=1, created_at="2026-01-01T00:00:00Z"
    )
    return eventbridge_event(Envelope.wrap(created, correlation_id="corr-42"))


def test_eventbridge_event_becomes_the_typed_model_and_binds_the_correlation_id():
    envelope = parse_eventbridge_event(user_created_event())
    assert isinstance(envelope.data, UserCreated)
    assert envelope.data.email == "ada@example.com"
    assert envelope.metadata.correlation_id == "corr-42"
    assert logger.get_correlation_id() == "corr-42"


def test_sqs_record_wrapping_an_eventbridge_event():
    envelope = parse_sqs_record(sqs_record(json.dumps(user_created_event())))
    assert isinstance(envelope.data, UserCreated)


def test_consumers_ignore_fields_added_within_a_version():
    event = user_created_event()
    event["detail"]["data"]["locale"] = "fr-FR"
    assert parse_eventbridge_event(event).data.user_id == "u1"


@pytest.mark.parametrize(
    ("mutate", "error", "reason"),
    [
        (lambda e: e.update({"detail-type": "UserPromoted"}), UnknownEvent, "unknown event"),
        (lambda e: e["detail"]["metadata"].update({"event_version": 9}), UnknownEvent, "v9"),
        (lambda e: e.update({"source": "evil.service"}), UnknownEvent, "unexpected source"),
        (lambda e: e["detail"]["data"].pop("email"), InvalidEvent, "data.email"),
        (lambda e: e["detail"]["data"].update({"email": "nope"}), InvalidEvent, "data.email"),
        (lambda e: e["detail"].pop("metadata"), InvalidEvent, "missing"),
    ],
)
def test_unknown_or_invalid_events_are_rejected_with_a_reason(mutate, error, reason):
    event = user_created_event()
    mutate(event)
    with pytest.raises(error, match=reason):
        parse_eventbridge_event(event)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"hello": "world"})])
def test_sqs_bodies_that_are_not_events_are_rejected(body):
    with pytest.raises(InvalidEvent):
        parse_sqs_record(sqs_record(body))


def test_an_event_is_parsed_into_the_model_of_its_own_type():
    deleted = Envelope.wrap(UserDeleted(user_id="u9", deleted_at="2026-01-01T00:00:00Z"), correlation_id="c")
    assert isinstance(parse_eventbridge_event(eventbridge_event(deleted)).data, UserDeleted)
