import base64
import re

import pytest

from shared.pagination import InvalidCursor, decode_cursor, encode_cursor

ORDER_SK = re.compile(r"ORDER#[0-9A-HJKMNP-TV-Z]{26}")
POSITION = "ORDER#01KE3AZY7M8Q2W4E6R8T0Y2V4J"  # fixed: test ids must not change between workers


def test_a_cursor_round_trips_and_is_url_safe():
    cursor = encode_cursor(POSITION)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert decode_cursor(cursor, ORDER_SK) == POSITION


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
        encode_cursor("USER#u2"),
    ],
)
def test_anything_but_a_position_of_the_expected_shape_is_refused(forged):
    with pytest.raises(InvalidCursor):
        decode_cursor(forged, ORDER_SK)
