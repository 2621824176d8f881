"""The profile rules, without AWS: what each change stores and which event it emits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.authorization import NotAllowed
from shared.events.envelope import Envelope
from shared.http import Caller
from users.domain.profiles import (
    Profile,
    ProfileName,
    ProfileNotFound,
    StaleVersion,
    create_profile,
    delete_profile,
    get_profile,
    update_profile,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
ANN, BOB, ADMIN = Caller("u1", is_admin=False), Caller("u2", is_admin=False), Caller("root", is_admin=True)


class MemoryProfiles:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.events: list[Envelope] = []

    def get(self, user_id: str) -> Profile | None:
        return self.profiles.get(user_id)

    def create(self, profile: Profile, event: Envelope) -> None:
        self.profiles[profile.id] = profile
        self.events.append(event)

    def replace(self, previous: Profile, profile: Profile, event: Envelope) -> None:
        self.create(profile, event)

    def delete(self, profile: Profile, event: Envelope) -> None:
        del self.profiles[profile.id]
        self.events.append(event)


@pytest.fixture
def repository() -> MemoryProfiles:
    repository = MemoryProfiles()
    create_profile(
        "u1", email="Ann@Example.com", name=" Ann ", correlation_id="c0", now=T0, profiles=repository
    )
    return repository


def test_create_normalises_and_emits_user_created(repository):
    assert repository.profiles["u1"] == Profile(
        id="u1", email="ann@example.com", name="Ann", version=1, created_at=T0, updated_at=T0
    )
    [event] = repository.events
    assert event.detail_type == "UserCreated"
    assert event.metadata.correlation_id == "c0"
    assert event.data.model_dump() == {
        "user_id": "u1",
        "email": "ann@example.com",
        "name": "Ann",
        "version": 1,
        "created_at": T0,
    }


@pytest.mark.parametrize(
    ("changes", "changed_fields"),
    [
        ({"name": "Anne"}, ["name"]),
        ({"email": "anne@example.com"}, ["email"]),
        ({"email": "anne@example.com", "name": "Anne"}, ["email", "name"]),
        ({"email": "ann@example.com", "name": "Anne"}, ["name"]),  # same e-mail: not a change
    ],
)
def test_update_reports_only_what_changed(repository, changes, changed_fields):
    updated = update_profile(
        "u1", ANN, expected_version=1, correlation_id="c1", now=T1, profiles=repository, **changes
    )

    assert updated.version == 2
    assert (updated.created_at, updated.updated_at) == (T0, T1)
    assert repository.profiles["u1"] == updated
    event = repository.events[-1]
    assert event.detail_type == "UserUpdated"
    assert event.metadata.correlation_id == "c1"
    assert event.data.changed_fields == changed_fields
    assert (event.data.email, event.data.name, event.data.version) == (updated.email, updated.name, 2)


def test_update_to_the_same_values_is_a_no_op(repository):
    unchanged = update_profile(
        "u1", ANN, expected_version=1, name="Ann", correlation_id="c1", now=T1, profiles=repository
    )
    assert unchanged.version == 1
    assert len(repository.events) == 1


def test_update_from_a_stale_version_or_of_nobody_is_refused(repository):
    with pytest.raises(StaleVersion):
        update_profile(
            "u1", ANN, expected_version=2, name="X", correlation_id="c1", now=T1, profiles=repository
        )
    with pytest.raises(ProfileNotFound):
        update_profile(
            "u9", ADMIN, expected_version=1, name="X", correlation_id="c1", now=T1, profiles=repository
        )
    assert len(repository.events) == 1


def test_delete_emits_user_deleted(repository):
    delete_profile("u1", ANN, correlation_id="c2", now=T1, profiles=repository)

    assert repository.profiles == {}
    event = repository.events[-1]
    assert (event.detail_type, event.data.user_id, event.data.deleted_at) == ("UserDeleted", "u1", T1)
    with pytest.raises(ProfileNotFound):
        delete_profile("u1", ANN, correlation_id="c3", now=T1, profiles=repository)


def test_only_the_owner_or_an_admin_reads_changes_or_deletes_a_profile(repository):
    with pytest.raises(NotAllowed):
        get_profile("u1", BOB, profiles=repository)
    with pytest.raises(NotAllowed):
        update_profile(
            "u1", BOB, expected_version=1, name="X", correlation_id="c", now=T1, profiles=repository
        )
    with pytest.raises(NotAllowed):
        delete_profile("u1", BOB, correlation_id="c", now=T1, profiles=repository)
    assert len(repository.events) == 1

    assert get_profile("u1", ADMIN, profiles=repository).name == "Ann"


NAME = TypeAdapter(ProfileName)


def _name_accepted(name: str) -> bool:
    try:
        NAME.validate_python(name)
    except ValidationError:
        return False
    return True


def test_a_name_is_valid_exactly_when_its_schema_pattern_says_so():
    # Every character of the BMP (the pattern's classes name nothing beyond it) alone, at an edge and
    # inside a name: the validator trims, checks the length and refuses controls; the pattern says it all.
    pattern = re.compile(NAME.json_schema()["pattern"])
    candidates = [
        name
        for code in range(0x10000)
        if not 0xD800 <= code <= 0xDFFF  # unpaired surrogates are not Unicode text
        for name in (chr(code), f"a{chr(code)}", f"a{chr(code)}b")
    ]
    candidates += [" " + "n" * 100 + "\t", "n" * 101, "\u3000n\u2028", "\u200fAnn", "\U0001f600"]
    disagreements = [name for name in candidates if _name_accepted(name) != bool(pattern.fullmatch(name))]
    assert disagreements == []
