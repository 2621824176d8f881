"""Notifications HTTP API: a user's notification history, newest first, one Query per page."""

from __future__ import annotations

import boto3

from notifications.adapters.notification_log import DynamoNotificationLog
from notifications.domain import history
from notifications.domain.models import NotificationPage
from shared.http import (
    PageCursor,
    PageLimit,
    UserId,
    caller_of,
    create_resolver,
    http_entrypoint,
)
from shared.settings import Settings


class ApiSettings(Settings):
    table_name: str


app = create_resolver()
settings = ApiSettings.load()
notification_log = DynamoNotificationLog(
    boto3.client("dynamodb", region_name=settings.aws_region), settings.table_name
)


@app.get(
    "/users/<user_id>/notifications",
    operation_id="listNotifications",
    summary="A user's notifications, newest first",
    description="One page per call: pass `next_cursor` as `cursor` for the next one.",
    responses={
        200: {"description": "A page of notifications"},
        400: {"description": "The cursor is not one this API returned"},
        403: {"description": "Not the caller's notifications, and the caller is not in the admin group"},
    },
)
def list_notifications(
    user_id: UserId,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> NotificationPage:
    return history.list_notifications(
        user_id, caller_of(app), limit=limit, cursor=cursor, log=notification_log
    )


handler = http_entrypoint(app)
