"""Hostile page requests to the notifications API, through the gateway as a client sends them:
each gets exactly its 4xx with a JSON error, never a 5xx. The route reads only (one ``Query``)."""

from __future__ import annotations

from urllib.parse import quote

from devtools.emulator.jwt_local import token_for
from tests.security.test_hostile_input import assert_json_client_error


def outcome(reply) -> int | str:
    """The status of a well-formed JSON error; else what is wrong with the reply."""
    try:
        assert_json_client_error(reply, reply.status)
    except (AssertionError, KeyError, ValueError):
        return f"{reply.status} {reply.headers.get('content-type')}: {reply.raw[:100]!r}"
    return reply.status


HOSTILE = {
    # request: status
    "?limit=0": 422,
    "?limit=101": 422,
    "?limit=-1": 422,
    "?limit=ten": 422,
    "?limit=1.5": 422,
    "?limit=": 422,
    f"?limit={'9' * 5000}": 422,
    "?cursor=": 422,
    "?cursor=%25%25%25": 400,
    "?cursor=bm90IGpzb24": 400,  # "not json"
    "?cursor=WzFd": 400,  # [1]
    "?cursor=eyJhZnRlciI6IDF9": 400,  # {"after": 1}
    "?cursor=eyJhZnRlciI6ICJYIn0": 400,  # {"after": "X"}: not a notification id
    "?cursor=" + quote("\u00fc\u202e"): 400,
    f"?cursor={'A' * 201}": 422,
}


def test_hostile_page_requests_are_json_4xx(http):
    answers = {request[:40]: outcome(http("GET", f"/users/u1/notifications{request}")) for request in HOSTILE}

    assert answers == {request[:40]: status for request, status in HOSTILE.items()}


def test_a_hostile_user_id_is_refused_before_any_query(http, aws, signing_key):
    # Not a user id: 422 for anyone, an admin too (whose choice is queried), before DynamoDB sees a
    # key beyond its size limit.
    admin = token_for(aws, signing_key, "ops-1", groups=("admin",))
    for user_id in ("%00", "u1%00", "..%2Fu1", "u1%23ORDER", "u" * 5000):
        assert outcome(http("GET", f"/users/{user_id}/notifications")) == 422
        assert outcome(http("GET", f"/users/{user_id}/notifications", token=admin)) == 422
