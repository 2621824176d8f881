"""Consumer-driven contract with the producers of every event this service reads.

The producers' promise is the committed JSON Schema of each event (``schemas/<source>/<DetailType>
.v<N>.json``, generated from the models in shared/events and checked for drift). This file states
what notifications relies on, and fails when a producer breaks it: a field we read removed,
renamed, made optional or given another type; a version we read retired; a new required field our
recorded samples lack. Adding an optional field, or a field we do not read, passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from devtools.template import ROOT, Stacks
from notifications.domain.service import CONSUMED_EVENTS
from shared.consumer import parse_sqs_record
from shared.events.envelope import DomainEvent
from shared.events.orders import OrderCancelled, OrderConfirmed, OrderFailed
from shared.events.users import UserCreated, UserDeleted, UserUpdated

SAMPLES = sorted((Path(__file__).parent.parent / "events").glob("deliver_*.json"))

METADATA_READ = {"event_id": "string", "event_version": "integer", "correlation_id": "string"}
DATA_READ: dict[type[DomainEvent], dict[str, str]] = {  # field → its JSON type, as the domain reads it
    UserCreated: {
        "user_id": "string",
        "email": "string",
        "name": "string",
        "version": "integer",
        "created_at": "string",
    },
    UserUpdated: {
        "user_id": "string",
        "email": "string",
        "name": "string",
        "version": "integer",
        "updated_at": "string",
    },
    UserDeleted: {"user_id": "string", "deleted_at": "string"},
    OrderConfirmed: {
        "order_id": "string",
        "user_id": "string",
        "currency": "string",
        "total": "string",
        "invoice_number": "string",
    },
    OrderFailed: {"order_id": "string", "user_id": "string", "reason": "string"},
    OrderCancelled: {"order_id": "string", "user_id": "string", "reason": "string"},
}


def committed_schema(source: str, detail_type: str, version: int) -> dict:
    path = ROOT / "schemas" / source / f"{detail_type}.v{version}.json"
    assert path.exists(), f"the producer no longer publishes {detail_type} v{version} ({path.name})"
    return json.loads(path.read_text())


def definition(schema: dict, part: str) -> dict:
    reference = schema["properties"][part]["$ref"]  # "#/$defs/<Name>"
    return schema["$defs"][reference.rsplit("/", 1)[1]]


def test_what_we_rely_on_is_stated_for_every_event_we_consume():
    assert set(DATA_READ) == set(CONSUMED_EVENTS)


@pytest.mark.parametrize("model", CONSUMED_EVENTS, ids=lambda model: model.detail_type)
def test_the_producer_still_promises_every_field_we_read(model):
    schema = committed_schema(model.source, model.detail_type, model.event_version)
    assert {"metadata", "data"} <= set(schema["required"])
    for part, fields in (("metadata", METADATA_READ), ("data", DATA_READ[model])):
        promised = definition(schema, part)
        for name, json_type in fields.items():
            assert name in promised.get("required", []), f"{model.detail_type}.{part}.{name} is not required"
            assert promised["properties"][name].get("type") == json_type, f"{part}.{name} changed type"


def test_our_rules_route_exactly_the_events_we_consume(stacks: Stacks):
    routed = set()
    for _, rule in stacks.templates["notifications"].of_type("AWS::Events::Rule"):
        pattern = rule["EventPattern"]
        routed |= {
            (source, detail_type) for source in pattern["source"] for detail_type in pattern["detail-type"]
        }
    assert routed == {(model.source, model.detail_type) for model in CONSUMED_EVENTS}


def test_there_is_a_recorded_sample_of_every_event_we_consume():
    sampled = {
        (event["source"], event["detail-type"])
        for path in SAMPLES
        for event in (json.loads(r["body"]) for r in json.loads(path.read_text())["Records"])
    }
    assert sampled == {(model.source, model.detail_type) for model in CONSUMED_EVENTS}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.stem)
def test_each_recorded_sample_is_valid_for_its_producer_and_readable_here(path):
    for record in json.loads(path.read_text())["Records"]:
        event = json.loads(record["body"])
        version = event["detail"]["metadata"]["event_version"]
        schema = committed_schema(event["source"], event["detail-type"], version)
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        problems = [
            f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(event["detail"])
        ]
        assert problems == [], f"the producer would not send {path.name} any more"

        envelope = parse_sqs_record(record)

        assert type(envelope.data) in CONSUMED_EVENTS
        assert all(getattr(envelope.data, name) is not None for name in DATA_READ[type(envelope.data)])
