"""The copy of a user's profile that a consumer keeps from the users service's events
(event-carried state transfer), and the one rule deciding which change wins.

Queues do not keep order and events are redelivered, so each change carries its own position.
A profile lives from its creation to its deletion; the same user id may sign up again later,
which starts a new life. A life is named by its creation time (``UserCreated.created_at``, also
carried by the later events of that life), so the position of a change is:

1. its life: a later life replaces whatever an earlier one left, the deletion's tombstone
   included (the user may order again and is greeted again);
2. within a life, its ``version``, and a deletion ends the life: a late or redelivered change of
   that life cannot bring the personal data back.

An event of an older producer may lack its life (``created_at`` is optional within version 1):
it is then taken as a change of the copy's current life, unless it happened before that life
began. Pure logic; ``shared.profile_copy_table`` stores the copy in DynamoDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from shared.events.users import UserCreated, UserDeleted, UserUpdated
from shared.keys import utc


class ProfileCopy(BaseModel):
    """A consumer's copy of one user's profile; a deleted user leaves a tombstone (no e-mail, no
    name) that only a new life replaces."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    life: datetime  # when this life of the profile began
    version: int = 0  # the profile version this copy reflects (a tombstone keeps its life's last)
    changed_at: datetime  # when the producer made that change
    email: str | None = None
    name: str | None = None
    deleted: bool = False

    @property
    def is_active(self) -> bool:
        return not self.deleted


@dataclass(frozen=True)
class ProfileChange:
    """What one user event says about the profile."""

    user_id: str
    changed_at: datetime
    life: datetime | None  # None: the producer did not say (see the module's docstring)
    version: int = 0  # 0 on a deletion
    email: str | None = None
    name: str | None = None
    deleted: bool = False


def profile_change(event: UserCreated | UserUpdated | UserDeleted) -> ProfileChange:
    match event:
        case UserCreated():
            at = utc(event.created_at)
            return ProfileChange(event.user_id, at, at, event.version, event.email, event.name)
        case UserUpdated():
            return ProfileChange(
                event.user_id, utc(event.updated_at), _life(event), event.version, event.email, event.name
            )
        case UserDeleted():
            return ProfileChange(event.user_id, utc(event.deleted_at), _life(event), deleted=True)


def apply_change(current: ProfileCopy | None, change: ProfileChange) -> ProfileCopy:
    """The copy after ``change``: ``current`` itself when ``change`` is superseded (stale or
    redelivered)."""
    life = change.life
    if life is None:
        if current is not None and change.changed_at < current.life:
            return current  # from before the current life began: an earlier life's change
        life = current.life if current is not None else change.changed_at
    if current is not None and life <= current.life:
        if life < current.life or current.deleted:
            return current  # an earlier life's change, or a change to a life that has ended
        if not change.deleted and change.version <= current.version:
            return current  # an older or the same version of this life
    if change.deleted:
        same_life = current is not None and current.life == life
        return ProfileCopy(
            user_id=change.user_id,
            life=life,
            version=current.version if current is not None and same_life else 0,
            changed_at=change.changed_at,
            deleted=True,
        )
    return ProfileCopy(
        user_id=change.user_id,
        life=life,
        version=change.version,
        changed_at=change.changed_at,
        email=change.email,
        name=change.name,
    )


class ProfileCopies(Protocol):
    """Where a service keeps its copies; ``save`` applies ``apply_change`` atomically."""

    def save(self, change: ProfileChange) -> ProfileCopy:
        """Apply ``change`` unless it is superseded; returns the copy as it stands afterwards."""
        ...

    def get(self, user_id: str, *, consistent: bool = False) -> ProfileCopy | None: ...


def _life(event: UserUpdated | UserDeleted) -> datetime | None:
    return utc(event.created_at) if event.created_at is not None else None
