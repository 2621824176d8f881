"""Opaque page cursors: where the previous page ended, as base64url JSON.

A cursor only says where to resume inside the partition the authorised request already names,
so a forged one can at worst skip items of the caller's own partition; anything that does not
decode to an item id (a ULID) is refused as ``InvalidCursor``, which the shared HTTP resolver
answers with 400 (``shared.http``). Every paginated route lists its items newest first by their
ULID sort keys, asks for one more than the page holds, and cuts the page with ``cut_page``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.keys import ULID

CURSOR_DESCRIPTION = (
    "The previous page's `next_cursor`, as it was; a cursor this API did not hand out is 400."
)


class InvalidCursor(ValueError):
    """A page cursor this API did not hand out."""


def encode_cursor(item_id: str) -> str:
    """The cursor of the page that follows the item ``item_id`` (a ULID)."""
    return base64.urlsafe_b64encode(json.dumps({"after": item_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The item id ``cursor`` resumes after: a ULID, else ``InvalidCursor``."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = decoded["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidCursor("cursor is not one this API returned") from None
    if not isinstance(after, str) or not ULID.fullmatch(after):
        raise InvalidCursor("cursor is not one this API returned")
    return after


def start_key(partition: str, prefix: str, cursor: str) -> dict[str, Any]:
    """The ``ExclusiveStartKey`` that resumes a ``Query`` of ``partition`` after the item the cursor
    names, whose sort key is ``prefix`` + its id."""
    return {"PK": {"S": partition}, "SK": {"S": prefix + decode_cursor(cursor)}}


def cut_page[T](items: list[T], limit: int, id_of: Callable[[T], str], *, truncated: bool) -> Page[T]:
    """A page of the items a newest-first ``Query`` returned, asked for ``limit`` + 1: when more came,
    or the query stopped early (``truncated``: its 1 MB limit, ``LastEvaluatedKey``), the next page
    resumes after the last item kept."""
    page = items[:limit]
    more = len(items) > limit or truncated
    return Page(page, encode_cursor(id_of(page[-1])) if more and page else None)


@dataclass(frozen=True)
class Page[T]:
    items: list[T]
    next_cursor: str | None
