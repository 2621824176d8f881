"""The profile copy in a service's DynamoDB table (low-level client), at ``PK=USER#<id>``,
``SK=PROFILE``: the same item in every service that keeps one.

``save`` reads the copy, applies ``shared.profile_copy.apply_change`` and writes on condition that
the copy is still the one it read, so concurrent deliveries agree (the loser reads again).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.keys import PROFILE_SK, condition_failed, parse_timestamp, timestamp, user_pk
from shared.profile_copy import ProfileChange, ProfileCopy, apply_change

PROFILE_ENTITY = "PROFILE"
LEGACY_LIFE = datetime(1970, 1, 1, tzinfo=UTC)  # the unknown life of a copy written before lives
_MAX_ATTEMPTS = 10  # each retry means another delivery changed the copy in between


class ProfileCopyConflict(Exception):
    """The copy kept changing under this save; the event is retried with its record."""


class DynamoProfileCopy:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, user_id: str, *, consistent: bool = False) -> ProfileCopy | None:
        item = self._client.get_item(
            TableName=self._table, Key=profile_key(user_id), ConsistentRead=consistent
        ).get("Item")
        return profile_from_item(item) if item else None

    def save(self, change: ProfileChange) -> ProfileCopy:
        for _ in range(_MAX_ATTEMPTS):
            current = self.get(change.user_id, consistent=True)
            copy = apply_change(current, change)
            if copy is current:
                return copy
            try:
                self._client.put_item(TableName=self._table, Item=profile_item(copy), **_unchanged(current))
            except Exception as error:
                if not condition_failed(error):
                    raise
                continue
            return copy
        raise ProfileCopyConflict(change.user_id)


def active_profile_check(table_name: str, user_id: str) -> dict[str, Any]:
    """A ``TransactWriteItems`` element that holds only while the user has a live profile copy."""
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": profile_key(user_id),
            # A copy of the former layouts is live when it has no deletion mark.
            "ConditionExpression": "attribute_exists(PK) AND (deleted = :false"
            " OR (attribute_not_exists(deleted) AND attribute_not_exists(deleted_at)))",
            "ExpressionAttributeValues": {":false": {"BOOL": False}},
        }
    }


def profile_key(user_id: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(user_id)}, "SK": {"S": PROFILE_SK}}


def profile_item(copy: ProfileCopy) -> dict[str, Any]:
    item = profile_key(copy.user_id) | {
        "entity": {"S": PROFILE_ENTITY},
        "user_id": {"S": copy.user_id},
        "life": {"S": timestamp(copy.life)},
        "version": {"N": str(copy.version)},
        "changed_at": {"S": timestamp(copy.changed_at)},
        "deleted": {"BOOL": copy.deleted},
    }
    # A tombstone keeps no e-mail and no name: the user is gone from this service too.
    if copy.email is not None:
        item["email"] = {"S": copy.email}
    if copy.name is not None:
        item["name"] = {"S": copy.name}
    return item


def profile_from_item(item: Mapping[str, Any]) -> ProfileCopy:
    if "life" not in item:
        return _legacy_profile(item)
    return ProfileCopy(
        user_id=item["user_id"]["S"],
        life=parse_timestamp(item["life"]["S"]),
        version=int(item["version"]["N"]),
        changed_at=parse_timestamp(item["changed_at"]["S"]),
        email=item.get("email", {}).get("S"),
        name=item.get("name", {}).get("S"),
        deleted=item["deleted"]["BOOL"],
    )


def _legacy_profile(item: Mapping[str, Any]) -> ProfileCopy:
    """A copy written before lives (orders kept ``updated_at``/``deleted_at``, notifications
    ``changed_at``/``deleted``): a tombstone's life is its deletion time, which every later
    profile's creation follows; a live copy's life is unknown, so the first change that names
    its life replaces it."""
    changed = item.get("changed_at") or item.get("deleted_at") or item["updated_at"]
    at = parse_timestamp(changed["S"])
    deleted = item.get("deleted", {}).get("BOOL", "deleted_at" in item)
    return ProfileCopy(
        user_id=item["user_id"]["S"],
        life=at if deleted else LEGACY_LIFE,
        version=int(item.get("version", {}).get("N", "0")),
        changed_at=at,
        email=item.get("email", {}).get("S"),
        name=item.get("name", {}).get("S"),
        deleted=deleted,
    )


def _unchanged(current: ProfileCopy | None) -> dict[str, Any]:
    if current is None:
        return {"ConditionExpression": "attribute_not_exists(PK)"}
    # A copy of the former layouts has no life: it is unchanged while nobody rewrote it.
    return {
        "ConditionExpression": "attribute_not_exists(life) OR (life = :life AND version = :version"
        " AND deleted = :deleted)",
        "ExpressionAttributeValues": {
            ":life": {"S": timestamp(current.life)},
            ":version": {"N": str(current.version)},
            ":deleted": {"BOOL": current.deleted},
        },
    }
