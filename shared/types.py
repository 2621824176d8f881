"""Value types shared by requests, domain models and events."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer

# Pragmatic address check (one @, a dotted domain, no spaces or control characters):
# deliverability is SES's job.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]{2,}$")


def _normalise_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("value is not a valid e-mail address")
    return value


Email = Annotated[str, Field(max_length=320), AfterValidator(_normalise_email)]
"""An e-mail address, validated and stored lower-cased."""

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]
"""An amount with at most two decimal places; serialised as a string, never a float."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code."""
