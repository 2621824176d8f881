"""Users HTTP API (skeleton: the full scope lands with the users issue)."""

from __future__ import annotations

import boto3

from shared.http import NotFoundError, authorize_user, caller_of, create_resolver, http_entrypoint
from shared.settings import Settings


class UsersSettings(Settings):
    table_name: str


app = create_resolver()
settings = UsersSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)


@app.get("/users/<user_id>")
def get_user(user_id: str) -> dict:
    authorize_user(caller_of(app), user_id)
    item = dynamodb.get_item(
        TableName=settings.table_name, Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": "PROFILE"}}
    )
    if "Item" not in item:
        raise NotFoundError("User not found")
    return {"id": user_id, "email": item["Item"]["email"]["S"], "name": item["Item"]["name"]["S"]}


handler = http_entrypoint(app)
