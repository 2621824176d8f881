"""The profile copy in DynamoDB: one conditional put per user event, the rule of
``domain.profiles.supersedes`` written as its condition, so that concurrent deliveries agree."""

from __future__ import annotations

from typing import Any

from notifications.adapters.keys import PROFILE_SK, parse_timestamp, timestamp, user_pk
from notifications.domain.models import Profile

_LIVE_CHANGE = (
    "attribute_not_exists(PK)"
    " OR (deleted = :false AND version < :version)"
    " OR (deleted = :true AND changed_at < :changed_at)"
)
_DELETION = "attribute_not_exists(PK) OR (deleted = :false AND changed_at <= :changed_at)"


class DynamoProfileCopy:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def save(self, change: Profile) -> Profile:
        values = {":false": {"BOOL": False}, ":changed_at": {"S": timestamp(change.changed_at)}}
        if change.deleted:
            condition = _DELETION
        else:
            condition = _LIVE_CHANGE
            values |= {":true": {"BOOL": True}, ":version": {"N": str(change.version)}}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(change),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as superseded:
            return _profile(superseded.response["Item"])
        return change

    def get(self, user_id: str) -> Profile | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"PK": {"S": user_pk(user_id)}, "SK": {"S": PROFILE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return _profile(item) if item else None


def _item(profile: Profile) -> dict[str, Any]:
    item = {
        "PK": {"S": user_pk(profile.user_id)},
        "SK": {"S": PROFILE_SK},
        "user_id": {"S": profile.user_id},
        "changed_at": {"S": timestamp(profile.changed_at)},
        "version": {"N": str(profile.version)},
        "deleted": {"BOOL": profile.deleted},
    }
    # A tombstone keeps no e-mail and no name: the user is gone from this service too.
    if profile.email is not None:
        item["email"] = {"S": profile.email}
    if profile.name is not None:
        item["name"] = {"S": profile.name}
    return item


def _profile(item: dict[str, Any]) -> Profile:
    return Profile(
        user_id=item["user_id"]["S"],
        changed_at=parse_timestamp(item["changed_at"]["S"]),
        version=int(item["version"]["N"]),
        email=item.get("email", {}).get("S"),
        name=item.get("name", {}).get("S"),
        deleted=item["deleted"]["BOOL"],
    )
