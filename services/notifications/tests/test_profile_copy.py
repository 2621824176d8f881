"""Which user event wins over the profile copy, whatever order they arrive in: the domain's rule,
and the DynamoDB adapter's conditional put, checked against the same cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from notifications.adapters.profile_copy import DynamoProfileCopy
from notifications.domain.models import Profile
from notifications.domain.profiles import supersedes

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def live(version: int, at: datetime = T0) -> Profile:
    return Profile("u1", at, version, f"v{version}@example.com", f"Name {version}")


def tombstone(at: datetime) -> Profile:
    return Profile("u1", at, deleted=True)


CASES = [  # (current copy, change, whether the change applies)
    pytest.param(None, live(1), True, id="first event creates the copy"),
    pytest.param(live(1), live(2), True, id="newer version replaces"),
    pytest.param(live(2), live(1), False, id="older version arriving late is ignored"),
    pytest.param(live(2), live(2), False, id="redelivered version is ignored"),
    pytest.param(live(3), tombstone(T0 + timedelta(hours=1)), True, id="deletion replaces the profile"),
    pytest.param(None, tombstone(T0), True, id="deletion before creation leaves a tombstone"),
    pytest.param(tombstone(T0 + timedelta(hours=1)), live(5), False, id="update older than deletion"),
    pytest.param(tombstone(T0), live(1, at=T0 + timedelta(days=1)), True, id="signed up again"),
    pytest.param(live(1, at=T0 + timedelta(days=1)), tombstone(T0), False, id="old deletion after sign-up"),
    pytest.param(tombstone(T0), tombstone(T0), False, id="redelivered deletion is ignored"),
]


@pytest.mark.parametrize(("current", "change", "applies"), CASES)
def test_the_rule(current, change, applies):
    assert supersedes(change, current) is applies


@pytest.mark.parametrize(("current", "change", "applies"), CASES)
def test_the_conditional_put_applies_the_rule(aws, current, change, applies):
    copy = DynamoProfileCopy(
        boto3.client("dynamodb"), aws.physical_name("notifications", "NotificationsTable")
    )
    if current is not None:
        assert copy.save(current) == current

    after = copy.save(change)

    expected = change if applies else current
    assert after == expected  # what save returns is the copy as it stands
    assert copy.get("u1") == expected
    if expected.deleted:
        assert expected.email is None  # a tombstone keeps no address
