"""The DynamoDB notification log on moto: the claim protocol item by item, and the paged history."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from notifications.adapters.notification_log import DynamoNotificationLog
from notifications.domain.models import AlreadySent, DeliveryInProgress, Notification, Status
from shared.events.envelope import new_id
from shared.pagination import InvalidCursor

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def log(aws) -> DynamoNotificationLog:
    return DynamoNotificationLog(
        boto3.client("dynamodb"), aws.physical_name("notifications", "NotificationsTable")
    )


def notification(event_id: str = "e1", user_id: str = "u1", created_at: datetime = T0) -> Notification:
    return Notification(
        id=new_id(),
        user_id=user_id,
        event_id=event_id,
        channel="email",
        template="order_failed",
        values={"name": "Ann", "order_id": "o1", "reason": "declined"},
        status=Status.PENDING,
        created_at=created_at,
    )


def test_a_claim_records_the_notification_and_the_dedupe_item_together(log, table):
    first = notification()

    claim = log.claim(first, lease_until=T0 + LEASE, now=T0)

    assert claim.notification == first
    stored = table.get("USER#u1", f"NOTIF#{first.id}")
    assert stored["status"] == {"S": "pending"}
    assert stored["event_id"] == {"S": "e1"}
    assert stored["values"]["M"]["order_id"] == {"S": "o1"}
    dedupe = table.get("EVENT#e1", "EVENT")
    assert dedupe["notification_id"] == {"S": first.id}
    assert dedupe["claim_token"] == {"S": claim.token}


def test_the_same_event_is_busy_during_the_lease_and_done_once_sent(log, table):
    claim = log.claim(notification(), lease_until=T0 + LEASE, now=T0)

    with pytest.raises(DeliveryInProgress):
        log.claim(notification(), lease_until=T0 + 2 * LEASE, now=T0 + LEASE / 2)

    log.mark_sent(claim, message_id="m-1", sent_at=T0 + timedelta(seconds=1))
    with pytest.raises(AlreadySent):
        log.claim(notification(), lease_until=T0 + 3 * LEASE, now=T0 + 2 * LEASE)

    [stored] = table.notifications("u1")  # still one notification for the event
    assert stored["status"] == {"S": "sent"}
    assert stored["message_id"] == {"S": "m-1"}
    assert table.get("EVENT#e1", "EVENT")["status"] == {"S": "sent"}


def test_an_expired_claim_is_taken_over_once_with_the_first_notification(log, table):
    first = notification()
    crashed = log.claim(first, lease_until=T0 + LEASE, now=T0)
    later = T0 + LEASE + timedelta(seconds=1)

    taken = log.claim(notification(), lease_until=later + LEASE, now=later)

    assert taken.notification == first
    assert taken.token != crashed.token
    assert table.get("EVENT#e1", "EVENT")["attempts"] == {"N": "2"}
    # The crashed delivery's claim is gone: it can no longer mark the event sent.
    with pytest.raises(ClientError, match="TransactionCanceled"):
        log.mark_sent(crashed, message_id="m-late", sent_at=later)
    log.mark_sent(taken, message_id="m-1", sent_at=later)
    assert [n["message_id"] for n in table.notifications("u1")] == [{"S": "m-1"}]


class RivalFirst:
    """A DynamoDB client that lets a rival delivery act just before our next ``UpdateItem``."""

    def __init__(self, client: Any, rival: Callable[[], Any]) -> None:
        self._client, self._rival = client, rival

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        rival, self._rival = self._rival, lambda: None
        rival()
        return self._client.update_item(**request)


def test_two_deliveries_taking_over_at_once_cannot_both_win(aws, log):
    log.claim(notification(), lease_until=T0 + LEASE, now=T0)
    later = T0 + 2 * LEASE
    rival = lambda: log.claim(notification(), lease_until=later + LEASE, now=later)  # noqa: E731
    racing = DynamoNotificationLog(
        RivalFirst(boto3.client("dynamodb"), rival), aws.physical_name("notifications", "NotificationsTable")
    )

    with pytest.raises(DeliveryInProgress, match="taken over"):
        racing.claim(notification(), lease_until=later + LEASE, now=later)


def test_a_released_claim_may_be_taken_over_at_once(log, table):
    claim = log.claim(notification(), lease_until=T0 + LEASE, now=T0)

    log.release(claim, error="MessageRejected: not verified")

    assert table.get("EVENT#e1", "EVENT")["last_error"] == {"S": "MessageRejected: not verified"}
    retry = log.claim(notification(), lease_until=T0 + 2 * LEASE, now=T0 + timedelta(seconds=1))
    assert retry.notification == claim.notification
    log.mark_sent(retry, message_id="m-1", sent_at=T0 + timedelta(seconds=2))
    assert "last_error" not in table.get("EVENT#e1", "EVENT")


def test_history_pages_newest_first_and_only_the_users_own(log):
    sent = [notification(event_id=f"e{n}", created_at=T0 + timedelta(minutes=n)) for n in range(5)]
    for item in sent:
        log.claim(item, lease_until=T0 + LEASE, now=T0)
    log.claim(notification(event_id="other", user_id="u2"), lease_until=T0 + LEASE, now=T0)
    newest_first = [item.id for item in reversed(sent)]

    first = log.page("u1", limit=2, cursor=None)
    second = log.page("u1", limit=2, cursor=first.next_cursor)
    last = log.page("u1", limit=2, cursor=second.next_cursor)

    pages = [first, second, last]
    assert [[n.id for n in page.notifications] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert last.next_cursor is None
    assert log.page("u1", limit=5, cursor=None).next_cursor is None  # exactly full: no empty next page
    assert log.page("nobody", limit=5, cursor=None).notifications == []


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"after": "USER#u2"}').decode(),
        base64.urlsafe_b64encode(b'{"after": 7}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "é",
    ],
)
def test_a_cursor_this_api_did_not_issue_is_refused(log, cursor):
    with pytest.raises(InvalidCursor):
        log.page("u1", limit=2, cursor=cursor)
