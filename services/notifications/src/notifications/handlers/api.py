"""Notifications HTTP API (skeleton: the full scope lands with the notifications issue)."""

from __future__ import annotations

import boto3

from shared.http import authorize_user, caller_of, create_resolver, http_entrypoint
from shared.settings import Settings


class NotificationsSettings(Settings):
    table_name: str


app = create_resolver()
settings = NotificationsSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)


@app.get("/users/<user_id>/notifications")
def list_notifications(user_id: str) -> dict:
    authorize_user(caller_of(app), user_id)
    page = dynamodb.query(
        TableName=settings.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
        ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":notif": {"S": "NOTIF#"}},
        ScanIndexForward=False,
    )
    return {"notifications": [{"id": i["SK"]["S"].removeprefix("NOTIF#")} for i in page["Items"]]}


handler = http_entrypoint(app)
