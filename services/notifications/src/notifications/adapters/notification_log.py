"""Notifications and their per-event dedupe items in DynamoDB (the protocol is explained in
``domain.service``); also the paged history the HTTP API serves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifications.adapters.keys import EVENT_SK, NOTIFICATION_PREFIX, event_pk
from notifications.domain.models import (
    AlreadySent,
    Claim,
    DeliveryInProgress,
    Notification,
    NotificationPage,
    Status,
)
from shared.events.envelope import new_id
from shared.keys import parse_timestamp, timestamp, user_pk
from shared.pagination import cut_page, start_key

_STATUS = {"#status": "status"}  # a reserved word in DynamoDB expressions


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class DynamoNotificationLog:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- delivery -------------------------------------------------------------------------------

    def claim(self, notification: Notification, *, lease_until: datetime, now: datetime) -> Claim:
        token = new_id()
        dedupe = {
            "PK": {"S": event_pk(notification.event_id)},
            "SK": {"S": EVENT_SK},
            "user_id": {"S": notification.user_id},
            "notification_id": {"S": notification.id},
            "status": {"S": Status.PENDING},
            "claim_token": {"S": token},
            "lease_until": {"N": _millis(lease_until)},
            "attempts": {"N": "1"},
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": dedupe,
                            "ConditionExpression": "attribute_not_exists(PK)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _notification_item(notification),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                ]
            )
        except self._client.exceptions.TransactionCanceledException as cancelled:
            dedupe_reason = cancelled.response["CancellationReasons"][0]
            if dedupe_reason.get("Code") != "ConditionalCheckFailed":
                raise  # a conflict with a concurrent transaction: the record is retried
            return self._take_over(dedupe_reason["Item"], lease_until=lease_until, now=now)
        return Claim(notification, token, lease_until)

    def _take_over(self, dedupe: dict[str, Any], *, lease_until: datetime, now: datetime) -> Claim:
        if dedupe["status"]["S"] == Status.SENT:
            raise AlreadySent(dedupe["PK"]["S"])
        if int(dedupe["lease_until"]["N"]) > int(_millis(now)):
            raise DeliveryInProgress(f"{dedupe['PK']['S']} is claimed by another delivery")
        token = new_id()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"PK": dedupe["PK"], "SK": dedupe["SK"]},
                UpdateExpression="SET claim_token = :token, lease_until = :lease ADD attempts :one",
                # Only from the claim we saw: of two deliveries taking over at once, one wins.
                ConditionExpression="claim_token = :seen AND #status = :pending",
                ExpressionAttributeNames=_STATUS,
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":lease": {"N": _millis(lease_until)},
                    ":one": {"N": "1"},
                    ":seen": dedupe["claim_token"],
                    ":pending": {"S": Status.PENDING},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise DeliveryInProgress(f"{dedupe['PK']['S']} was taken over by another delivery") from None
        item = self._client.get_item(
            TableName=self._table,
            Key={
                "PK": {"S": user_pk(dedupe["user_id"]["S"])},
                "SK": {"S": NOTIFICATION_PREFIX + dedupe["notification_id"]["S"]},
            },
            ConsistentRead=True,
        )["Item"]
        return Claim(_notification(item), token, lease_until)

    def release(self, claim: Claim, *, error: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=_dedupe_key(claim),
            UpdateExpression="SET lease_until = :expired, last_error = :error",
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={
                ":expired": {"N": "0"},
                ":error": {"S": error[:1000]},
                ":token": {"S": claim.token},
            },
        )

    def mark_sent(self, claim: Claim, *, message_id: str, sent_at: datetime) -> None:
        notification = claim.notification
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _dedupe_key(claim),
                        "UpdateExpression": "SET #status = :sent REMOVE lease_until, last_error",
                        "ConditionExpression": "claim_token = :token",
                        "ExpressionAttributeNames": _STATUS,
                        "ExpressionAttributeValues": {
                            ":sent": {"S": Status.SENT},
                            ":token": {"S": claim.token},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {
                            "PK": {"S": user_pk(notification.user_id)},
                            "SK": {"S": NOTIFICATION_PREFIX + notification.id},
                        },
                        "UpdateExpression": "SET #status = :sent, sent_at = :at, message_id = :message_id",
                        "ExpressionAttributeNames": _STATUS,
                        "ExpressionAttributeValues": {
                            ":sent": {"S": Status.SENT},
                            ":at": {"S": timestamp(sent_at)},
                            ":message_id": {"S": message_id},
                        },
                    }
                },
            ]
        )

    # -- history --------------------------------------------------------------------------------

    def page(self, user_id: str, *, limit: int, cursor: str | None) -> NotificationPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": user_pk(user_id)},
                ":prefix": {"S": NOTIFICATION_PREFIX},
            },
            "ScanIndexForward": False,  # ULIDs: newest first
            # One more than asked tells whether a next page exists (items are far below 1 MB).
            "Limit": limit + 1,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = start_key(user_pk(user_id), NOTIFICATION_PREFIX, cursor)
        response = self._client.query(**request)
        page = cut_page(
            [_notification(item) for item in response["Items"]],
            limit,
            lambda notification: notification.id,
            truncated="LastEvaluatedKey" in response,
        )
        return NotificationPage(notifications=page.items, next_cursor=page.next_cursor)


def _dedupe_key(claim: Claim) -> dict[str, Any]:
    return {"PK": {"S": event_pk(claim.notification.event_id)}, "SK": {"S": EVENT_SK}}


def _notification_item(notification: Notification) -> dict[str, Any]:
    return {
        "PK": {"S": user_pk(notification.user_id)},
        "SK": {"S": NOTIFICATION_PREFIX + notification.id},
        "user_id": {"S": notification.user_id},
        "event_id": {"S": notification.event_id},
        "channel": {"S": notification.channel},
        "template": {"S": notification.template},
        "values": {"M": {key: {"S": value} for key, value in notification.values.items()}},
        "status": {"S": notification.status},
        "created_at": {"S": timestamp(notification.created_at)},
    }


def _notification(item: dict[str, Any]) -> Notification:
    sent_at = item.get("sent_at", {}).get("S")
    return Notification(
        id=item["SK"]["S"].removeprefix(NOTIFICATION_PREFIX),
        user_id=item["user_id"]["S"],
        event_id=item["event_id"]["S"],
        channel=item["channel"]["S"],
        template=item["template"]["S"],
        values={key: value["S"] for key, value in item["values"]["M"].items()},
        status=item["status"]["S"],
        created_at=parse_timestamp(item["created_at"]["S"]),
        sent_at=parse_timestamp(sent_at) if sent_at else None,
    )
