"""The table adapter's conditional writes, raced on moto: the conditions, not the read before them,
keep updates from being lost and e-mails unique."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from shared.events.envelope import Envelope
from shared.events.users import UserCreated, UserDeleted, UserUpdated
from users.adapters.profile_table import DynamoProfileRepository
from users.domain.profiles import EmailTaken, Profile, StaleVersion

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def repository(aws) -> DynamoProfileRepository:
    return DynamoProfileRepository(boto3.client("dynamodb"), aws.physical_name("users", "UsersTable"))


def profile(user_id: str = "u1", email: str = "ann@example.com", name: str = "Ann", version: int = 1):
    return Profile(id=user_id, email=email, name=name, version=version, created_at=NOW, updated_at=NOW)


def created(p: Profile) -> Envelope:
    event = UserCreated(user_id=p.id, email=p.email, name=p.name, version=p.version, created_at=NOW)
    return Envelope.wrap(event, correlation_id="c")


def updated(p: Profile, *fields: str) -> Envelope:
    event = UserUpdated(
        user_id=p.id, email=p.email, name=p.name, version=p.version, changed_fields=fields, updated_at=NOW
    )
    return Envelope.wrap(event, correlation_id="c")


def test_round_trip(repository):
    repository.create(profile(), created(profile()))
    assert repository.get("u1") == profile()
    assert repository.get("u2") is None


def test_a_writer_holding_an_old_version_loses_even_after_its_read(repository, table):
    v1 = profile()
    repository.create(v1, created(v1))
    # Both writers read v1; the first one commits v2.
    first = profile(name="First", version=2)
    repository.replace(v1, first, updated(first, "name"))

    second = profile(name="Second", version=2)
    with pytest.raises(StaleVersion):
        repository.replace(v1, second, updated(second, "name"))
    with pytest.raises(StaleVersion):
        repository.delete(v1, Envelope.wrap(UserDeleted(user_id="u1", deleted_at=NOW), correlation_id="c"))

    assert repository.get("u1") == first
    assert table("EMAIL#ann@example.com", "EMAIL")["user_id"] == {"S": "u1"}


def test_two_users_racing_for_one_address(repository, table):
    ann, bob = profile("u1", "ann@example.com"), profile("u2", "bob@example.com", "Bob")
    repository.create(ann, created(ann))
    repository.create(bob, created(bob))

    # Bob switches to Ann's address as if his read had missed her claim.
    bob_as_ann = profile("u2", "ann@example.com", "Bob", version=2)
    with pytest.raises(EmailTaken):
        repository.replace(bob, bob_as_ann, updated(bob_as_ann, "email"))

    assert repository.get("u2") == bob
    assert table("EMAIL#bob@example.com", "EMAIL")["user_id"] == {"S": "u2"}
    assert table("EMAIL#ann@example.com", "EMAIL")["user_id"] == {"S": "u1"}
