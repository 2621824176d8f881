"""The JSON Schema of each shared value type (in ``openapi/`` and ``schemas/``) says what its
validator accepts: schemathesis generates requests from it and expects valid ones to be accepted."""

import re
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.types import Email, Integer, Money

EMAIL = TypeAdapter(Email)
MONEY = TypeAdapter(Money)


def _accepts(adapter: TypeAdapter, value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "o'brien+news@sub.example.co.uk",
        "ünï@exämple.org",
        "l" * 64 + "@example.com",
        "l" * 65 + "@example.com",
        "a@" + "d" * 249 + ".io",  # 254 characters
        "a@" + "d" * 250 + ".io",
        "a@b.c",
        "a@b",
        "@b.de",
        "a@@b.de",
        "a@b.de.",
        "a b@c.de",
        "a\u00a0b@c.de",
        "a\u3000b@c.de",
        "a\x00b@c.de",
        "a\x85b@c.de",
        "a\x9fb@c.de",
    ],
)
def test_an_address_as_stored_is_valid_exactly_when_its_schema_says_so(address: str):
    schema = EMAIL.json_schema()
    documented = len(address) <= schema["maxLength"] and re.fullmatch(schema["pattern"], address) is not None
    assert _accepts(EMAIL, address) == documented


def test_an_address_is_trimmed_and_lower_cased_as_its_description_says():
    assert EMAIL.validate_python("  Ann@Example.COM\n") == "ann@example.com"
    assert "trimmed" in EMAIL.json_schema()["description"]


@pytest.mark.parametrize(
    ("amount", "serialised"),
    [("0", "0.00"), ("0.5", "0.50"), ("12.5", "12.50"), ("999999999999.99", "999999999999.99")],
)
def test_money_serialises_as_its_schema_says(amount: str, serialised: str):
    text = MONEY.dump_json(Decimal(amount)).decode()
    assert text == f'"{serialised}"'
    assert re.fullmatch(MONEY.json_schema(mode="serialization")["pattern"], serialised)


def test_money_beyond_the_schemas_twelve_digits_is_refused():
    assert not _accepts(MONEY, Decimal("1000000000000"))


@pytest.mark.parametrize(
    ("value", "accepted"), [(2, True), (2.0, True), ("2", False), (True, False), (1.5, False)]
)
def test_an_integer_is_what_json_schema_calls_one(value: object, accepted: bool):
    assert _accepts(TypeAdapter(Integer), value) == accepted
    assert TypeAdapter(Integer).json_schema() == {"type": "integer"}
