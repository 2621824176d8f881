"""Value types shared by requests, domain models and events.

Each type's JSON Schema (``openapi/``, ``schemas/``) is written from the pattern its validator
applies, so the generated documents say what the code accepts.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

# Character classes spelled out rather than as \s: Python's re, pydantic's Rust regex and ECMA-262
# (the documents' dialect) each read \s differently.
CONTROLS = r"\x00-\x1f\x7f-\x9f"
"""C0, DEL and C1 control characters."""
WHITESPACE = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What ``strip_whitespace`` trims (Unicode White_Space)."""

# Pragmatic address check (one @, a dotted domain, no whitespace, no C0 control or DEL):
# deliverability is SES's job.
_NOT_IN_ADDRESS = rf"@\x00-\x1f\x7f{WHITESPACE}"
EMAIL_PATTERN = rf"^[^{_NOT_IN_ADDRESS}]{{1,64}}@[^{_NOT_IN_ADDRESS}]+\.[^{_NOT_IN_ADDRESS}.]{{2,}}$"
EMAIL_MAX_LENGTH = 254
_EMAIL = re.compile(EMAIL_PATTERN)


def _normalise_email(value: str) -> str:
    # Checked as stored, lower-cased. Lower-casing lengthens one letter, "İ" (to "i̇"): the one way an
    # address its schema allows is refused, at the length limits.
    value = value.strip().lower()
    if len(value) > EMAIL_MAX_LENGTH or not _EMAIL.fullmatch(value):
        raise ValueError("value is not a valid e-mail address")
    return value


Email = Annotated[
    str,
    AfterValidator(_normalise_email),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": EMAIL_MAX_LENGTH,
            "pattern": EMAIL_PATTERN,
            "description": "An e-mail address; surrounding whitespace is trimmed and it is stored "
            "lower-cased.",
        }
    ),
]
"""An e-mail address, validated and stored lower-cased."""

MONEY_PATTERN = r"^(?:0|[1-9][0-9]{0,11})\.[0-9]{2}$"
"""Money as serialised: exactly two decimal places, at most 12 digits before them (14 in all)."""

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN}, mode="serialization"),
]
"""An amount with at most two decimal places; serialised as a string, never a float."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code: three capital letters (not checked against the list)."""


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_integral), Field(strict=True)]
"""A JSON integer: 2, or 2.0, which JSON Schema counts as the same integer; never "2" nor true."""
