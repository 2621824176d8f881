"""The users HTTP API through its real handler, with API Gateway v2 events, on moto."""

from __future__ import annotations

import boto3
import pytest

ANN = {"email": "ann@example.com", "name": "Ann"}


@pytest.fixture
def ann(call_api) -> dict:
    """u1's profile, created through the API."""
    created = call_api("POST", "/users", body=ANN, user="u1")
    assert created.status == 201
    return created.body


def test_create_stores_profile_email_claim_and_event_in_one_go(call_api, table, outbox):
    created = call_api(
        "POST",
        "/users",
        body={"email": "  Ann@Example.COM ", "name": "  Ann Smith  "},
        headers={"X-Correlation-Id": "corr-create-1"},
    )

    assert created.status == 201
    assert created.headers["Location"] == "/users/u1"
    assert created.headers["x-correlation-id"] == "corr-create-1"
    assert created.body["id"] == "u1"
    assert created.body["email"] == "ann@example.com"
    assert created.body["name"] == "Ann Smith"
    assert created.body["version"] == 1
    assert created.body["created_at"] == created.body["updated_at"]

    profile = table("USER#u1", "PROFILE")
    assert profile["email"] == {"S": "ann@example.com"}
    assert profile["name"] == {"S": "Ann Smith"}
    assert profile["version"] == {"N": "1"}
    assert profile["GSI1PK"] == {"S": "EMAIL#ann@example.com"}
    assert table("EMAIL#ann@example.com", "EMAIL")["user_id"] == {"S": "u1"}

    [event] = outbox()
    assert event["detail_type"] == "UserCreated"
    assert event["detail"]["metadata"]["correlation_id"] == "corr-create-1"
    assert event["detail"]["metadata"]["producer"] == "shop.users"
    assert event["detail"]["data"] == {
        "user_id": "u1",
        "email": "ann@example.com",
        "name": "Ann Smith",
        "version": 1,
        "created_at": created.body["created_at"],
    }


def test_create_twice_or_with_a_taken_email_is_a_conflict_and_writes_nothing(call_api, ann, table, outbox):
    again = call_api("POST", "/users", body={"email": "other@example.com", "name": "Ann"}, user="u1")
    assert again.status == 409
    assert again.body == {"statusCode": 409, "message": "A profile already exists for this user"}
    assert table("EMAIL#other@example.com", "EMAIL") is None

    taken = call_api("POST", "/users", body={"email": "ANN@example.com", "name": "Bob"}, user="u2")
    assert taken.status == 409
    assert taken.body["message"] == "The e-mail address belongs to another user"
    assert table("USER#u2", "PROFILE") is None

    assert [event["detail_type"] for event in outbox()] == ["UserCreated"]


def test_email_lookup_through_gsi1(call_api, ann, aws):
    found = boto3.client("dynamodb").query(
        TableName=aws.physical_name("users", "UsersTable"),
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :email",
        ExpressionAttributeValues={":email": {"S": "EMAIL#ann@example.com"}},
    )["Items"]
    assert [item["PK"]["S"] for item in found] == ["USER#u1"]


def test_get_own_profile_other_users_and_missing(call_api, ann):
    own = call_api("GET", "/users/u1", user="u1", headers={"x-correlation-id": "corr-get"})
    assert own.status == 200
    assert own.body == ann
    assert own.headers["x-correlation-id"] == "corr-get"

    forbidden = call_api("GET", "/users/u1", user="u2")
    assert forbidden.status == 403
    assert forbidden.body["message"] == "You may only access your own resources"

    assert call_api("GET", "/users/u1", user="u2", admin=True).body == ann

    missing = call_api("GET", "/users/nobody", user="u2", admin=True)
    assert missing.status == 404
    assert missing.body == {"statusCode": 404, "message": "User not found"}
    assert call_api("GET", "/users/u1", user="u1").headers["x-correlation-id"]  # generated when absent


def test_patch_name_bumps_version_and_emits_changed_fields(call_api, ann, table, outbox):
    patched = call_api(
        "PATCH", "/users/u1", body={"name": " Anne ", "version": 1}, headers={"x-correlation-id": "corr-p"}
    )

    assert patched.status == 200
    assert patched.body["name"] == "Anne"
    assert patched.body["email"] == ann["email"]
    assert patched.body["version"] == 2
    assert patched.body["created_at"] == ann["created_at"]
    assert patched.body["updated_at"] > ann["updated_at"]
    assert table("USER#u1", "PROFILE")["name"] == {"S": "Anne"}

    updated = outbox()[-1]
    assert updated["detail_type"] == "UserUpdated"
    assert updated["detail"]["metadata"]["correlation_id"] == "corr-p"
    assert updated["detail"]["data"]["changed_fields"] == ["name"]
    assert updated["detail"]["data"]["version"] == 2
    assert updated["detail"]["data"]["name"] == "Anne"


def test_patch_with_a_stale_version_is_rejected_without_losing_the_other_update(call_api, ann, table, outbox):
    first = call_api("PATCH", "/users/u1", body={"name": "First", "version": 1})
    second = call_api("PATCH", "/users/u1", body={"name": "Second", "version": 1})

    assert first.status == 200
    assert second.status == 409
    assert "changed since it was read" in second.body["message"]
    assert table("USER#u1", "PROFILE")["name"] == {"S": "First"}
    assert [event["detail_type"] for event in outbox()] == ["UserCreated", "UserUpdated"]


def test_patch_email_moves_the_claim_and_frees_the_old_address(call_api, ann, table, outbox):
    patched = call_api("PATCH", "/users/u1", body={"email": "Ann.New@Example.com", "version": 1})

    assert patched.status == 200
    assert patched.body["email"] == "ann.new@example.com"
    assert table("EMAIL#ann@example.com", "EMAIL") is None
    assert table("EMAIL#ann.new@example.com", "EMAIL")["user_id"] == {"S": "u1"}
    assert table("USER#u1", "PROFILE")["GSI1PK"] == {"S": "EMAIL#ann.new@example.com"}
    assert outbox()[-1]["detail"]["data"]["changed_fields"] == ["email"]

    # The old address is free again.
    assert call_api("POST", "/users", body={"email": ANN["email"], "name": "Bob"}, user="u2").status == 201


def test_patch_to_an_email_of_another_user_is_a_conflict_and_changes_nothing(call_api, ann, table, outbox):
    assert (
        call_api("POST", "/users", body={"email": "bob@example.com", "name": "Bob"}, user="u2").status == 201
    )

    taken = call_api("PATCH", "/users/u1", body={"email": "bob@example.com", "name": "Ann B", "version": 1})

    assert taken.status == 409
    assert taken.body["message"] == "The e-mail address belongs to another user"
    profile = table("USER#u1", "PROFILE")
    assert (profile["email"], profile["name"], profile["version"]) == (
        {"S": "ann@example.com"},
        {"S": "Ann"},
        {"N": "1"},
    )
    assert table("EMAIL#ann@example.com", "EMAIL")["user_id"] == {"S": "u1"}
    assert table("EMAIL#bob@example.com", "EMAIL")["user_id"] == {"S": "u2"}
    assert [event["detail_type"] for event in outbox()] == ["UserCreated", "UserCreated"]


def test_patch_that_changes_nothing_writes_nothing(call_api, ann, outbox):
    same = call_api("PATCH", "/users/u1", body={"email": "ANN@example.com", "name": "Ann", "version": 1})

    assert same.status == 200
    assert same.body == ann
    assert len(outbox()) == 1


def test_patch_of_another_user_needs_admin(call_api, ann):
    assert call_api("PATCH", "/users/u1", body={"name": "X", "version": 1}, user="u2").status == 403
    by_admin = call_api("PATCH", "/users/u1", body={"name": "X", "version": 1}, user="u2", admin=True)
    assert by_admin.status == 200
    assert by_admin.body["name"] == "X"
    assert call_api("PATCH", "/users/nobody", body={"name": "X", "version": 1}, user="nobody").status == 404


def test_delete_removes_profile_and_claim_and_emits_user_deleted(call_api, ann, table, outbox):
    assert call_api("DELETE", "/users/u1", user="u2").status == 403

    deleted = call_api("DELETE", "/users/u1", headers={"x-correlation-id": "corr-del"})

    assert deleted.status == 204
    assert deleted.body is None
    assert deleted.headers["x-correlation-id"] == "corr-del"
    assert table("USER#u1", "PROFILE") is None
    assert table("EMAIL#ann@example.com", "EMAIL") is None
    event = outbox()[-1]
    assert event["detail_type"] == "UserDeleted"
    assert event["detail"]["data"]["user_id"] == "u1"
    assert event["detail"]["metadata"]["correlation_id"] == "corr-del"

    assert call_api("DELETE", "/users/u1").status == 404
    assert call_api("GET", "/users/u1").status == 404


TOO_LONG_NAME = "n" * 101


@pytest.mark.parametrize(
    ("method", "body", "status", "problem"),
    [
        ("POST", '{"email": "a@b.co", ', 400, "json_invalid"),
        ("POST", '["a@b.co"]', 422, "model_attributes_type"),
        ("POST", None, 422, "missing"),
        ("POST", {"email": "a@b.co"}, 422, "missing"),
        ("POST", {"email": "a@b.co", "name": "A", "role": "admin"}, 422, "extra_forbidden"),
        ("POST", {"email": "a@b.co", "name": 42}, 422, "string_type"),
        ("POST", {"email": ["a@b.co"], "name": "A"}, 422, "string_type"),
        ("POST", {"email": "not-an-email", "name": "A"}, 422, "value_error"),
        ("POST", {"email": "a@b.co", "name": "   "}, 422, "string_too_short"),
        ("POST", {"email": "a@b.co", "name": TOO_LONG_NAME}, 422, "string_too_long"),
        ("POST", {"email": "a@b.co", "name": "Ann\u0000"}, 422, "value_error"),
        ("POST", {"email": "a@b.co", "name": "\u202eAnn"}, 422, "value_error"),
        ("PATCH", {"name": "A"}, 422, "missing"),
        ("PATCH", {"name": "A", "version": "1"}, 422, "int_type"),
        ("PATCH", {"name": "A", "version": 0}, 422, "greater_than_equal"),
        ("PATCH", {"version": 1}, 422, "value_error"),
        ("PATCH", {"email": None, "version": 1}, 422, "value_error"),
        ("PATCH", {"name": "A", "version": 1, "id": "u2"}, 422, "extra_forbidden"),
        ("PATCH", {"name": "Ann\r\nAdmin", "version": 1}, 422, "value_error"),
    ],
)
def test_bad_input_is_a_json_error_naming_the_problem(
    call_api, ann, table, outbox, method, body, status, problem
):
    path = "/users" if method == "POST" else "/users/u1"

    response = call_api(method, path, body=body, user="u2" if method == "POST" else "u1")

    assert response.status == status
    assert response.body["statusCode"] == status
    assert response.body["message"]
    assert problem in [error["type"] for error in response.body["detail"]]
    assert table("USER#u2", "PROFILE") is None
    assert table("USER#u1", "PROFILE")["version"] == {"N": "1"}
    assert len(outbox()) == 1


def test_names_of_exactly_100_characters_are_accepted(call_api):
    created = call_api("POST", "/users", body={"email": "a@b.co", "name": " " + "n" * 100 + " "})
    assert created.status == 201
    assert created.body["name"] == "n" * 100


def test_bodies_over_16_kib_are_refused_before_parsing(call_api, table):
    huge = {"email": "a@b.co", "name": "A", "padding": "x" * (16 * 1024)}

    response = call_api("POST", "/users", body=huge)

    assert response.status == 400
    assert response.body["message"] == "Request body larger than 16384 bytes"
    assert [error["type"] for error in response.body["detail"]] == ["too_large"]
    assert response.headers["x-correlation-id"]
    assert table("USER#u1", "PROFILE") is None
