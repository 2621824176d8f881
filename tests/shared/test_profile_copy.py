"""Which user event wins over a consumer's profile copy, whatever order the events arrive in:
the rule (``shared.profile_copy``) and its DynamoDB adapter, checked against the same cases, on
the table of every service that keeps a copy. The events are the users service's own models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from shared.events.users import UserCreated, UserDeleted, UserUpdated
from shared.profile_copy import ProfileCopy, apply_change, profile_change
from shared.profile_copy_table import DynamoProfileCopy, active_profile_check, profile_item

L1 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # the profile's first life began
L2 = L1 + timedelta(days=1)  # deleted, then created again: its second life
HOUR = timedelta(hours=1)


def created(life: datetime) -> UserCreated:
    return UserCreated(user_id="u1", email="new@example.com", name="New", version=1, created_at=life)


def updated(version: int, life: datetime | None, at: datetime) -> UserUpdated:
    return UserUpdated(
        user_id="u1",
        email=f"v{version}@example.com",
        name=f"Name {version}",
        version=version,
        changed_fields=["name"],
        updated_at=at,
        created_at=life,
    )


def deleted(life: datetime | None, at: datetime) -> UserDeleted:
    return UserDeleted(user_id="u1", deleted_at=at, created_at=life)


def live(life: datetime, version: int, at: datetime | None = None) -> ProfileCopy:
    email, name = (
        (f"v{version}@example.com", f"Name {version}") if version > 1 else ("new@example.com", "New")
    )
    return ProfileCopy(
        user_id="u1", life=life, version=version, changed_at=at or life, email=email, name=name
    )


def tombstone(life: datetime, at: datetime, version: int = 0) -> ProfileCopy:
    return ProfileCopy(user_id="u1", life=life, version=version, changed_at=at, deleted=True)


CASES = [  # (stored copy, event, the copy afterwards; None: the stored copy stays)
    pytest.param(None, created(L1), live(L1, 1), id="first event creates the copy"),
    pytest.param(live(L1, 1), updated(2, L1, L1 + HOUR), live(L1, 2, L1 + HOUR), id="newer version"),
    pytest.param(live(L1, 2, L1 + HOUR), updated(1, L1, L1), None, id="older version arriving late"),
    pytest.param(live(L1, 2, L1 + HOUR), updated(2, L1, L1 + HOUR), None, id="redelivered version"),
    pytest.param(live(L1, 1), deleted(L1, L1 + HOUR), tombstone(L1, L1 + HOUR, 1), id="deletion"),
    pytest.param(None, deleted(L1, L1 + HOUR), tombstone(L1, L1 + HOUR), id="deletion before creation"),
    pytest.param(tombstone(L1, L1 + HOUR), created(L1), None, id="creation after its deletion"),
    pytest.param(tombstone(L1, L1 + HOUR), updated(5, L1, L1), None, id="update of an ended life"),
    pytest.param(tombstone(L1, L1 + HOUR), deleted(L1, L1 + HOUR), None, id="redelivered deletion"),
    pytest.param(tombstone(L1, L1 + HOUR), created(L2), live(L2, 1), id="signed up again"),
    pytest.param(live(L2, 1), updated(2, L1, L1 + HOUR), None, id="late update of the earlier life"),
    pytest.param(live(L2, 1), deleted(L1, L1 + HOUR), None, id="late deletion of the earlier life"),
    pytest.param(live(L2, 1), updated(2, L2, L2 + HOUR), live(L2, 2, L2 + HOUR), id="new life goes on"),
    # Events of a producer that did not say which life they belong to.
    pytest.param(live(L1, 1), updated(2, None, L1 + HOUR), live(L1, 2, L1 + HOUR), id="lifeless update"),
    pytest.param(live(L2, 1), deleted(None, L1 + HOUR), None, id="lifeless deletion from before the life"),
    pytest.param(live(L2, 1), deleted(None, L2 + HOUR), tombstone(L2, L2 + HOUR, 1), id="lifeless deletion"),
]


@pytest.mark.parametrize(("stored", "event", "expected"), CASES)
def test_the_rule(stored, event, expected):
    after = apply_change(stored, profile_change(event))

    assert after == (expected or stored)


@pytest.mark.parametrize("service", ["orders", "notifications"])
@pytest.mark.parametrize(("stored", "event", "expected"), CASES)
def test_the_table_applies_the_rule(aws, service, stored, event, expected):
    dynamodb = boto3.client("dynamodb")
    table = aws.physical_name(
        service, {"orders": "OrdersTable", "notifications": "NotificationsTable"}[service]
    )
    copies = DynamoProfileCopy(dynamodb, table)
    if stored is not None:
        dynamodb.put_item(TableName=table, Item=profile_item(stored))

    after = copies.save(profile_change(event))

    assert after == (expected or stored)  # what save returns is the copy as it stands
    assert copies.get("u1", consistent=True) == (expected or stored)


def test_a_tombstone_keeps_no_personal_data(aws):
    copies = DynamoProfileCopy(boto3.client("dynamodb"), aws.physical_name("orders", "OrdersTable"))
    copies.save(profile_change(created(L1)))
    copies.save(profile_change(deleted(L1, L1 + HOUR)))

    item = boto3.client("dynamodb").get_item(
        TableName=aws.physical_name("orders", "OrdersTable"),
        Key={"PK": {"S": "USER#u1"}, "SK": {"S": "PROFILE"}},
    )["Item"]
    assert "email" not in item
    assert "name" not in item


# Copies written before lives, in the two former layouts, as deployed tables still hold them.
LEGACY_LIVE = {  # orders: version and updated_at, no deletion mark
    "PK": {"S": "USER#u1"},
    "SK": {"S": "PROFILE"},
    "entity": {"S": "PROFILE"},
    "user_id": {"S": "u1"},
    "email": {"S": "old@example.com"},
    "name": {"S": "Old"},
    "version": {"N": "2"},
    "updated_at": {"S": "2026-03-01T10:00:00+00:00"},
}
LEGACY_TOMBSTONE = {  # notifications: changed_at and deleted
    "PK": {"S": "USER#u1"},
    "SK": {"S": "PROFILE"},
    "user_id": {"S": "u1"},
    "version": {"N": "0"},
    "changed_at": {"S": "2026-03-01T10:00:00.000000Z"},
    "deleted": {"BOOL": True},
}


@pytest.mark.parametrize(
    ("legacy", "event", "stays", "live_after"),
    [
        pytest.param(LEGACY_LIVE, updated(3, L1, L1 + 2 * HOUR), False, True, id="live, then an update"),
        pytest.param(LEGACY_LIVE, deleted(L1, L1 + 2 * HOUR), False, False, id="live, then a deletion"),
        pytest.param(LEGACY_TOMBSTONE, updated(5, L1, L1), True, False, id="tombstone, late update"),
        pytest.param(LEGACY_TOMBSTONE, created(L2), False, True, id="tombstone, signed up again"),
    ],
)
def test_a_copy_written_before_lives_is_read_and_replaced_by_the_rule(aws, legacy, event, stays, live_after):
    dynamodb = boto3.client("dynamodb")
    table = aws.physical_name("orders", "OrdersTable")
    dynamodb.put_item(TableName=table, Item=legacy)
    copies = DynamoProfileCopy(dynamodb, table)
    before = copies.get("u1", consistent=True)

    after = copies.save(profile_change(event))

    assert (after == before) is stays
    assert after.is_active is live_after
    check = active_profile_check(table, "u1")
    put = {"Put": {"TableName": table, "Item": {"PK": {"S": "X"}, "SK": {"S": "Y"}}}}
    if live_after:
        dynamodb.transact_write_items(TransactItems=[put, check])
    else:
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            dynamodb.transact_write_items(TransactItems=[put, check])
