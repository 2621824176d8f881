"""Events published by the users service (source ``shop.users``).

They carry the profile itself (event-carried state transfer), so consumers keep a copy and never
call the users service.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.envelope import APP, DomainEvent
from shared.types import Email

SOURCE = f"{APP}.users"

ProfileField = Literal["email", "name"]

_LIFE = (
    "When the profile was created: a user id that signs up again after a deletion starts a new "
    "profile, and consumers tell its changes from the old one's by this time. Absent from older "
    "producers."
)


class UserCreated(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "UserCreated"

    user_id: str = Field(min_length=1)
    email: Email
    name: str
    version: int = Field(ge=1, description="Profile version after this change.")
    created_at: datetime


class UserUpdated(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "UserUpdated"

    user_id: str = Field(min_length=1)
    email: Email
    name: str
    version: int = Field(ge=1, description="Profile version after this change.")
    changed_fields: list[ProfileField] = Field(min_length=1)
    updated_at: datetime
    created_at: datetime | None = Field(default=None, description=_LIFE)


class UserDeleted(DomainEvent):
    source: ClassVar[str] = SOURCE
    detail_type: ClassVar[str] = "UserDeleted"

    user_id: str = Field(min_length=1)
    deleted_at: datetime
    created_at: datetime | None = Field(default=None, description=_LIFE)
