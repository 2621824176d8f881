"""The users table (single-table design) behind ``ProfileRepository``.

Items:

- profile ``PK=USER#<id>, SK=PROFILE``, with ``GSI1PK=EMAIL#<email>, GSI1SK=USER#<id>`` so GSI1
  answers "who has this e-mail";
- e-mail claim ``PK=EMAIL#<email>, SK=EMAIL`` holding ``user_id``: put with
  ``attribute_not_exists`` in the same transaction as the profile, so two users can never hold one
  address, whatever the interleaving (a GSI is eventually consistent and cannot enforce that);
- outbox events (``shared.outbox``), in that same transaction.

Every write is one ``TransactWriteItems``; a cancelled transaction is mapped to the domain error of
the first item whose condition failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.events.envelope import Envelope
from shared.keys import PROFILE_SK, cancelled_by_condition, user_pk
from shared.outbox import outbox_put
from users.domain.profiles import (
    ConcurrentChange,
    EmailTaken,
    Profile,
    ProfileConflict,
    ProfileExists,
    StaleVersion,
)

EMAIL_SK = "EMAIL"


def profile_key(user_id: str) -> dict[str, Any]:
    return {"PK": {"S": user_pk(user_id)}, "SK": {"S": PROFILE_SK}}


def email_key(email: str) -> dict[str, Any]:
    return {"PK": {"S": f"EMAIL#{email}"}, "SK": {"S": EMAIL_SK}}


def _profile_item(profile: Profile) -> dict[str, Any]:
    return profile_key(profile.id) | {
        "GSI1PK": {"S": f"EMAIL#{profile.email}"},
        "GSI1SK": {"S": user_pk(profile.id)},
        "user_id": {"S": profile.id},
        "email": {"S": profile.email},
        "name": {"S": profile.name},
        "version": {"N": str(profile.version)},
        "created_at": {"S": profile.created_at.isoformat()},
        "updated_at": {"S": profile.updated_at.isoformat()},
    }


def _profile(item: dict[str, Any]) -> Profile:
    return Profile(
        id=item["user_id"]["S"],
        email=item["email"]["S"],
        name=item["name"]["S"],
        version=int(item["version"]["N"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
    )


class DynamoProfileRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, user_id: str) -> Profile | None:
        # Strongly consistent: a PATCH must compare against the latest version.
        response = self._client.get_item(TableName=self._table, Key=profile_key(user_id), ConsistentRead=True)
        return _profile(response["Item"]) if "Item" in response else None

    def create(self, profile: Profile, event: Envelope) -> None:
        self._transact(
            [
                (self._put_profile(profile, "attribute_not_exists(PK)"), ProfileExists),
                (self._claim_email(profile), EmailTaken),
                (outbox_put(self._table, event), ConcurrentChange),
            ]
        )

    def replace(self, previous: Profile, profile: Profile, event: Envelope) -> None:
        steps = [(self._put_profile(profile, "version = :expected", previous.version), StaleVersion)]
        if profile.email != previous.email:
            steps += [
                (self._release_email(previous), ConcurrentChange),
                (self._claim_email(profile), EmailTaken),
            ]
        self._transact([*steps, (outbox_put(self._table, event), ConcurrentChange)])

    def delete(self, profile: Profile, event: Envelope) -> None:
        delete_profile = {
            "Delete": {
                "TableName": self._table,
                "Key": profile_key(profile.id),
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(profile.version)}},
            }
        }
        self._transact(
            [
                (delete_profile, StaleVersion),
                (self._release_email(profile), ConcurrentChange),
                (outbox_put(self._table, event), ConcurrentChange),
            ]
        )

    # -- transaction items ------------------------------------------------------------------------

    def _put_profile(self, profile: Profile, condition: str, expected_version: int | None = None) -> dict:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": _profile_item(profile),
            "ConditionExpression": condition,
        }
        if expected_version is not None:
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        return {"Put": put}

    def _claim_email(self, profile: Profile) -> dict:
        return {
            "Put": {
                "TableName": self._table,
                "Item": email_key(profile.email) | {"user_id": {"S": profile.id}},
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _release_email(self, profile: Profile) -> dict:
        return {
            "Delete": {
                "TableName": self._table,
                "Key": email_key(profile.email),
                "ConditionExpression": "user_id = :owner",
                "ExpressionAttributeValues": {":owner": {"S": profile.id}},
            }
        }

    def _transact(self, steps: Sequence[tuple[dict, type[ProfileConflict]]]) -> None:
        """Write every item or none; a failed condition raises the error paired with its item."""
        try:
            self._client.transact_write_items(TransactItems=[item for item, _ in steps])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            for index, (_, conflict) in enumerate(steps):
                if cancelled_by_condition(error, index):
                    raise conflict() from None
            # TransactionConflict: another transaction touched one of these items at the same time.
            raise ConcurrentChange() from None
