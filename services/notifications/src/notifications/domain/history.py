"""What a user (or an admin) reads: the user's notifications, newest first."""

from __future__ import annotations

from notifications.domain.models import NotificationPage
from notifications.domain.ports import NotificationLog
from shared.authorization import Actor, authorize


def list_notifications(
    user_id: str, actor: Actor, *, limit: int, cursor: str | None, log: NotificationLog
) -> NotificationPage:
    authorize(actor, user_id)
    return log.page(user_id, limit=limit, cursor=cursor)
