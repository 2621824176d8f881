"""Users HTTP API: every route of the service in one router Lambda.

One function rather than one per route: the four routes share their dependencies and their IAM
scope (the users table), so one warm pool serves them all, a client pays at most one cold start
(the imports below dominate it), and there is one role to review instead of four identical ones.
"""

from __future__ import annotations

from typing import Annotated, Any

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from shared.events.envelope import utc_now
from shared.http import (
    ConflictError,
    NotFoundError,
    RequestBody,
    UserId,
    caller_of,
    create_resolver,
    http_entrypoint,
)
from shared.settings import Settings
from shared.types import Email, Integer
from users.adapters.profile_table import DynamoProfileRepository
from users.domain.profiles import (
    Profile,
    ProfileConflict,
    ProfileName,
    ProfileNotFound,
    create_profile,
    delete_profile,
    get_profile,
    update_profile,
)


class ApiSettings(Settings):
    table_name: str


class NewProfileRequest(RequestBody):
    email: Email
    name: ProfileName


CHANGEABLE = ("email", "name")


MAX_VERSION = 2**53 - 1  # the largest integer every JSON parser reads exactly; a profile never gets there


class ProfilePatchRequest(RequestBody):
    # At least one of the changeable fields; either may be omitted, not null.
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": [field]} for field in CHANGEABLE]})

    email: Email | SkipJsonSchema[None] = Field(default=None, description="Omit to keep the current address.")
    name: ProfileName | SkipJsonSchema[None] = Field(
        default=None, description="Omit to keep the current name."
    )
    # Bounded: DynamoDB refuses a number of over 38 digits or beyond 1E+125 (a 500, were it sent).
    version: Integer = Field(ge=1, le=MAX_VERSION, description="The profile version the change is based on.")

    @field_validator(*CHANGEABLE, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Defaults are not validated, so this only refuses an explicit null.
        if value is None:
            raise ValueError("may be omitted, not null")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> ProfilePatchRequest:
        if all(getattr(self, field) is None for field in CHANGEABLE):
            raise ValueError(f"give at least one of {', '.join(CHANGEABLE)}")
        return self


settings = ApiSettings.load()
profiles = DynamoProfileRepository(
    boto3.client("dynamodb", region_name=settings.aws_region), settings.table_name
)
app = create_resolver()


@app.exception_handler(ProfileNotFound)
def _not_found(error: ProfileNotFound) -> None:
    raise NotFoundError(str(error))


@app.exception_handler(ProfileConflict)
def _conflict(error: ProfileConflict) -> None:
    raise ConflictError(str(error))


def _correlation_id() -> str:
    return app.context["correlation_id"]


FORBIDDEN = {"description": "Not the caller's profile, and the caller is not in the admin group"}
NOT_FOUND = {"description": "No profile with this id"}


@app.post(
    "/users",
    operation_id="createUser",
    summary="Create the caller's profile",
    description="The profile's id is the caller's (the token's `sub`). Publishes `UserCreated`.",
    responses={
        201: {
            "description": "The profile, created",
            "headers": {"Location": {"description": "`/users/{id}`", "schema": {"type": "string"}}},
        },
        403: {"description": "The token names no user (no `sub`)"},
        409: {"description": "The caller has a profile already, or the e-mail address is another user's"},
    },
)
def create_user(
    body: Annotated[
        NewProfileRequest,
        Body(openapi_examples={"ann": {"value": {"email": "ann@example.com", "name": "Ann"}}}),
    ],
) -> Response[Profile]:
    caller = caller_of(app)
    profile = create_profile(
        caller.user_id,
        email=body.email,
        name=body.name,
        correlation_id=_correlation_id(),
        now=utc_now(),
        profiles=profiles,
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=profile,
        headers={"Location": f"/users/{profile.id}"},
    )


@app.get(
    "/users/<user_id>",
    operation_id="getUser",
    summary="Read a profile",
    responses={200: {"description": "The profile"}, 403: FORBIDDEN, 404: NOT_FOUND},
)
def get_user(user_id: UserId) -> Profile:
    return get_profile(user_id, caller_of(app), profiles=profiles)


@app.patch(
    "/users/<user_id>",
    operation_id="updateUser",
    summary="Change a profile's e-mail address or name",
    description="Send the `version` you read: a profile changed since then is not overwritten (409). "
    "Publishes `UserUpdated`.",
    responses={
        200: {"description": "The profile, changed, with its new version"},
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: {"description": "The profile changed since `version`, or the e-mail address is another user's"},
    },
)
def update_user(
    user_id: UserId,
    body: Annotated[
        ProfilePatchRequest,
        Body(openapi_examples={"rename": {"value": {"name": "Ann Lee", "version": 1}}}),
    ],
) -> Profile:
    return update_profile(
        user_id,
        caller_of(app),
        expected_version=body.version,
        email=body.email,
        name=body.name,
        correlation_id=_correlation_id(),
        now=utc_now(),
        profiles=profiles,
    )


@app.delete(
    "/users/<user_id>",
    operation_id="deleteUser",
    summary="Delete a profile",
    description="Publishes `UserDeleted`: the user's open orders are cancelled.",
    responses={
        204: {"description": "Deleted", "content": {}},
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: {"description": "The profile changed while it was being deleted"},
    },
)
def delete_user(user_id: UserId) -> Response[None]:
    delete_profile(
        user_id, caller_of(app), correlation_id=_correlation_id(), now=utc_now(), profiles=profiles
    )
    return Response(status_code=204)


handler = http_entrypoint(app)
