"""User profiles: the rules of creating, changing and deleting one, and the event each change emits.

Pure logic: the functions take the request's values, the actor, then by keyword the context and
a ``ProfileRepository``, and return plain models. The repository
stores a change and its event atomically (the outbox), and it alone can tell a taken e-mail or a
stale version from a successful write, so it raises those errors.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from shared.authorization import Actor, authorize
from shared.events.envelope import Envelope
from shared.events.users import UserCreated, UserDeleted, UserUpdated
from shared.types import CONTROLS, WHITESPACE, Email

# Embeddings, overrides and isolates reorder the text around them when displayed, so a name could
# pose as another ("Trojan Source"). Plain direction marks (U+200E, U+200F) stay allowed: right-to-left
# names need them. Unpaired surrogates never get this far: pydantic refuses them as not Unicode.
_BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{CONTROLS}{_BIDI_CONTROLS}]")

# The same rules as one pattern over the name as sent, surrounding whitespace included: its JSON Schema
# (tests/test_profiles.py checks that the two agree).
NAME_MAX_LENGTH = 100
_INNER = f"[^{CONTROLS}{_BIDI_CONTROLS}]"
_EDGE = f"[^{CONTROLS}{_BIDI_CONTROLS}{WHITESPACE}]"
NAME_PATTERN = f"^[{WHITESPACE}]*{_EDGE}(?:{_INNER}{{0,{NAME_MAX_LENGTH - 2}}}{_EDGE})?[{WHITESPACE}]*$"


def _printable(name: str) -> str:
    if found := _CONTROL.search(name):
        raise ValueError(f"must not contain control characters (found U+{ord(found.group()):04X})")
    return name


ProfileName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_printable),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": NAME_PATTERN,
            "description": "A display name: surrounding whitespace is trimmed, then 1 to 100 "
            "characters, none of them a control character.",
        }
    ),
]


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    email: Email
    name: ProfileName
    version: int = Field(ge=1, description="Incremented by every change; send it back to PATCH.")
    created_at: datetime
    updated_at: datetime


class ProfileError(Exception):
    """A request the profile rules refuse; the message is fit for the caller."""


class ProfileNotFound(ProfileError):
    def __init__(self) -> None:
        super().__init__("User not found")


class ProfileConflict(ProfileError):
    """The change contradicts the stored state; the caller may re-read and try again."""


class ProfileExists(ProfileConflict):
    def __init__(self) -> None:
        super().__init__("A profile already exists for this user")


class EmailTaken(ProfileConflict):
    def __init__(self) -> None:
        super().__init__("The e-mail address belongs to another user")


class StaleVersion(ProfileConflict):
    def __init__(self) -> None:
        super().__init__("The profile changed since it was read: read it again and retry")


class ConcurrentChange(ProfileConflict):
    def __init__(self) -> None:
        super().__init__("The profile is being changed by another request: retry")


class ProfileRepository(Protocol):
    """Stores profiles; each write also records its event, in one transaction."""

    def get(self, user_id: str) -> Profile | None: ...

    def create(self, profile: Profile, event: Envelope[UserCreated]) -> None:
        """Raises ``ProfileExists`` or ``EmailTaken``."""

    def replace(self, previous: Profile, profile: Profile, event: Envelope[UserUpdated]) -> None:
        """Raises ``StaleVersion`` unless ``previous`` is still what is stored, ``EmailTaken``."""

    def delete(self, profile: Profile, event: Envelope[UserDeleted]) -> None:
        """Raises ``StaleVersion`` unless ``profile`` is still what is stored."""


def get_profile(user_id: str, actor: Actor, *, profiles: ProfileRepository) -> Profile:
    authorize(actor, user_id)
    profile = profiles.get(user_id)
    if profile is None:
        raise ProfileNotFound()
    return profile


def create_profile(
    user_id: str, *, email: str, name: str, correlation_id: str, now: datetime, profiles: ProfileRepository
) -> Profile:
    """The caller's own profile (its id is the caller's): there is nobody else to authorize."""
    profile = Profile(id=user_id, email=email, name=name, version=1, created_at=now, updated_at=now)
    event = UserCreated(
        user_id=user_id, email=profile.email, name=profile.name, version=profile.version, created_at=now
    )
    profiles.create(profile, Envelope.wrap(event, correlation_id=correlation_id))
    return profile


def update_profile(
    user_id: str,
    actor: Actor,
    *,
    expected_version: int,
    email: str | None = None,
    name: str | None = None,
    correlation_id: str,
    now: datetime,
    profiles: ProfileRepository,
) -> Profile:
    """Apply the given fields if the caller saw the latest version; a change to nothing is a no-op."""
    current = get_profile(user_id, actor, profiles=profiles)
    if current.version != expected_version:
        raise StaleVersion()
    requested = {"email": email, "name": name}
    changes = {
        field: value
        for field, value in requested.items()
        if value is not None and value != getattr(current, field)
    }
    if not changes:
        return current
    updated = Profile.model_validate(
        current.model_dump() | changes | {"version": current.version + 1, "updated_at": now}
    )
    event = UserUpdated(
        user_id=user_id,
        email=updated.email,
        name=updated.name,
        version=updated.version,
        changed_fields=sorted(changes),
        updated_at=now,
        created_at=updated.created_at,
    )
    profiles.replace(current, updated, Envelope.wrap(event, correlation_id=correlation_id))
    return updated


def delete_profile(
    user_id: str, actor: Actor, *, correlation_id: str, now: datetime, profiles: ProfileRepository
) -> None:
    profile = get_profile(user_id, actor, profiles=profiles)
    event = UserDeleted(user_id=user_id, deleted_at=now, created_at=profile.created_at)
    profiles.delete(profile, Envelope.wrap(event, correlation_id=correlation_id))
