"""Opaque page cursors: where the previous page ended, as base64url JSON.

A cursor only says where to resume inside the partition the authorised request already names,
so a forged one can at worst skip items of the caller's own partition; anything that does not
decode to a position of the expected shape is refused as ``InvalidCursor`` (a 400, not a 500).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

CURSOR_DESCRIPTION = (
    "The previous page's `next_cursor`, as it was; a cursor this API did not hand out is 400."
)


class InvalidCursor(ValueError):
    """A page cursor this API did not hand out."""


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, position: re.Pattern[str]) -> str:
    """The position ``cursor`` names, which must match ``position`` entirely."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = decoded["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidCursor("cursor is not one this API returned") from None
    if not isinstance(after, str) or not position.fullmatch(after):
        raise InvalidCursor("cursor is not one this API returned")
    return after
