import base64
import re

import pytest

from shared.pagination import InvalidCursor, cut_page, decode_cursor, encode_cursor

POSITION = "01KE3AZY7M8Q2W4E6R8T0Y2V4J"  # fixed: test ids must not change between workers


def test_a_cursor_round_trips_and_is_url_safe():
    cursor = encode_cursor(POSITION)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor) == POSITION


@pytest.mark.parametrize(
    "forged",
    [
        "",
        "%%%",
        "bnVsbA",  # null
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"after": 7}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        encode_cursor("PROFILE"),
        encode_cursor(POSITION + "X"),  # the whole position must match
        encode_cursor("ORDER#" + POSITION),  # a sort key, not an id
        encode_cursor("USER#u2"),
    ],
)
def test_anything_but_a_position_of_the_expected_shape_is_refused(forged):
    with pytest.raises(InvalidCursor):
        decode_cursor(forged)


A, B, C = (f"01KE3AZY7M8Q2W4E6R8T0Y2V4{letter}" for letter in "ABC")  # newest is C


@pytest.mark.parametrize(
    ("found", "truncated", "kept", "after"),
    [
        ([C, B, A], False, [C, B], B),  # one more than the page: another page follows
        ([C, B], False, [C, B], None),
        ([C], True, [C], C),  # the query stopped at its 1 MB limit: more may follow
        ([], True, [], None),
    ],
)
def test_a_page_is_cut_after_limit_items_and_resumes_after_the_last(found, truncated, kept, after):
    page = cut_page(found, 2, lambda item_id: item_id, truncated=truncated)

    assert page.items == kept
    assert page.next_cursor == (encode_cursor(after) if after else None)
    assert page.next_cursor is None or decode_cursor(page.next_cursor) == after
