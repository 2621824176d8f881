"""The profile copy: which user event wins, whatever order the events arrive in.

SQS does not keep order and events may be redelivered, so each change carries its own position:
within a profile's life the ``version`` the users service gave it; across a deletion, the time of
the change (a user may sign up again with the same id after deleting the profile).
"""

from __future__ import annotations

from datetime import UTC, datetime

from notifications.domain.models import Profile
from shared.events.users import UserCreated, UserDeleted, UserUpdated


def supersedes(change: Profile, current: Profile | None) -> bool:
    """Whether ``change`` replaces ``current`` (``ProfileCopy.save`` applies exactly this rule)."""
    if current is None:
        return True
    if change.deleted:
        return not current.deleted and current.changed_at <= change.changed_at
    if current.deleted:
        return current.changed_at < change.changed_at
    return current.version < change.version


def profile_change(event: UserCreated | UserUpdated | UserDeleted) -> Profile:
    """The change a user event makes to the copy."""
    match event:
        case UserCreated():
            return Profile(event.user_id, _utc(event.created_at), event.version, event.email, event.name)
        case UserUpdated():
            return Profile(event.user_id, _utc(event.updated_at), event.version, event.email, event.name)
        case UserDeleted():
            return Profile(event.user_id, _utc(event.deleted_at), deleted=True)


def _utc(moment: datetime) -> datetime:
    # A timestamp without a zone is UTC (what every producer writes); comparisons need one zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
