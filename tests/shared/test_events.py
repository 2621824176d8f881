import json
from decimal import Decimal

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from devtools.contracts import schemas
from shared.events import REGISTRY, Envelope
from shared.events.orders import OrderLine, OrderPlaced
from shared.events.users import UserCreated


def order_placed() -> OrderPlaced:
    return OrderPlaced(
        order_id="o1",
        user_id="u1",
        items=[OrderLine(sku="SKU-1", quantity=2, unit_price=Decimal("12.50"))],
        currency="EUR",
        total=Decimal("25.00"),
    )


def test_envelope_carries_routing_and_metadata():
    envelope = Envelope.wrap(order_placed(), correlation_id="corr-1")
    entry = envelope.to_entry("shop-dev")
    assert entry["Source"] == "shop.orders"
    assert entry["DetailType"] == "OrderPlaced"
    assert entry["EventBusName"] == "shop-dev"
    detail = json.loads(entry["Detail"])
    assert detail["metadata"]["correlation_id"] == "corr-1"
    assert detail["metadata"]["event_version"] == 1
    assert detail["metadata"]["producer"] == "shop.orders"
    assert len(detail["metadata"]["event_id"]) == 26  # a ULID
    # Money is a decimal string on the wire, never a float.
    assert detail["data"]["total"] == "25.00"
    assert detail["data"]["items"][0]["unit_price"] == "12.50"


def test_event_ids_sort_by_creation_time():
    ids = [Envelope.wrap(order_placed(), correlation_id="c").metadata.event_id for _ in range(50)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_registry_holds_every_event_once_by_type_and_version():
    assert set(REGISTRY) == {
        ("UserCreated", 1),
        ("UserUpdated", 1),
        ("UserDeleted", 1),
        ("OrderPlaced", 1),
        ("OrderConfirmed", 1),
        ("OrderFailed", 1),
        ("OrderCancelled", 1),
    }


def test_emails_are_validated_and_lower_cased():
    created = UserCreated(
        user_id="u1", email="  Ada@Example.COM ", name="Ada", version=1, created_at="2026-01-01T00:00:00Z"
    )
    assert created.email == "ada@example.com"
    with pytest.raises(ValidationError):
        UserCreated(
            user_id="u1", email="not-an-email", name="Ada", version=1, created_at="2026-01-01T00:00:00Z"
        )


def test_money_rejects_floats_beyond_cents_and_negative_amounts():
    with pytest.raises(ValidationError):
        OrderLine(sku="S", quantity=1, unit_price=Decimal("1.005"))
    with pytest.raises(ValidationError):
        OrderLine(sku="S", quantity=1, unit_price=Decimal("-1"))


def test_committed_schemas_match_the_models():
    assert schemas.drift() == [], "run `make schemas` and commit the result"


def test_schema_drift_is_detected(tmp_path, monkeypatch):
    monkeypatch.setattr(schemas, "SCHEMAS", tmp_path)
    monkeypatch.setattr(schemas, "ROOT", tmp_path)
    assert len(schemas.drift()) == len(REGISTRY)  # every schema missing
    schemas.main(["write"])
    assert schemas.drift() == []
    path = schemas.schema_path(OrderPlaced)
    path.write_text(path.read_text().replace('"total"', '"grand_total"'))
    assert schemas.drift() == [f"{path.relative_to(tmp_path)} is out of date"]


def test_a_schema_accepts_its_own_version_only():
    """A consumer validating against ``OrderPlaced.v1.json`` rejects a v2 event, whatever its shape."""
    validator = Draft202012Validator(json.loads(schemas.schema_path(OrderPlaced).read_text()))
    detail = json.loads(Envelope.wrap(order_placed(), correlation_id="c").detail_json())
    assert list(validator.iter_errors(detail)) == []

    detail["metadata"]["event_version"] = 2
    assert [error.message for error in validator.iter_errors(detail)] == ["1 was expected"]
