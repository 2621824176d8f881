"""GET /users/{id}/notifications through the api handler, with API Gateway v2 events and the JWT
authorizer's claims, on notifications that the deliver function recorded."""

from __future__ import annotations

import pytest


@pytest.fixture
def delivered(deliver, sqs_batch, events, mailbox):
    """u1 has a welcome and three order notifications, oldest first; u2 has a welcome."""
    sent = [
        events.user_created(),
        events.order_confirmed(order_id="o1"),
        events.order_failed(order_id="o2"),
        events.order_cancelled(order_id="o3"),
        events.user_created(user_id="u2"),
    ]
    for envelope in sent:  # one by one: ULIDs order them
        assert deliver(sqs_batch(envelope)) == {"batchItemFailures": []}
    return sent


def test_a_user_reads_their_notifications_newest_first(delivered, list_notifications):
    status, body = list_notifications("u1")

    assert status == 200
    assert body["next_cursor"] is None
    assert [n["template"] for n in body["notifications"]] == [
        "order_cancelled",
        "order_failed",
        "order_confirmed",
        "welcome",
    ]
    confirmed = body["notifications"][2]
    assert confirmed["event_id"] == delivered[1].metadata.event_id
    assert confirmed["values"] == {
        "name": "Ann",
        "order_id": "o1",
        "total": "42.50",
        "currency": "EUR",
        "invoice_number": "INV-o1",
    }
    assert (confirmed["channel"], confirmed["status"], confirmed["user_id"]) == ("email", "sent", "u1")
    assert confirmed["created_at"] <= confirmed["sent_at"]
    assert set(confirmed) == {
        "id",
        "user_id",
        "event_id",
        "channel",
        "template",
        "values",
        "status",
        "created_at",
        "sent_at",
    }


def test_pages_follow_the_cursor_to_the_end(delivered, list_notifications):
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, body = list_notifications("u1", query=query)
        assert status == 200
        seen += [n["id"] for n in body["notifications"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 2
    assert seen == [n["id"] for n in list_notifications("u1")[1]["notifications"]]


def test_only_the_user_or_an_admin_may_read(delivered, list_notifications):
    assert list_notifications("u1", caller="u2")[0] == 403
    status, body = list_notifications("u1", caller="u2", admin=True)
    assert status == 200
    assert len(body["notifications"]) == 4


def test_a_user_without_notifications_gets_an_empty_page(aws, list_notifications):
    assert list_notifications("nobody") == (200, {"notifications": [], "next_cursor": None})


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=ten", 422),
        ("cursor=", 422),
        ("cursor=bm90IG91cnM", 400),
        ("cursor=" + "A" * 201, 422),
    ],
)
def test_bad_paging_input_is_a_client_error(aws, list_notifications, query, status):
    got, body = list_notifications("u1", query=query)
    assert got == status
    assert body["statusCode"] == status
    assert body["message"]
