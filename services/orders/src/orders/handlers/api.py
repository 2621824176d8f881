"""Orders HTTP API (skeleton: the full scope lands with the orders issue)."""

from __future__ import annotations

import boto3

from shared.http import NotFoundError, authorize_user, caller_of, create_resolver, http_entrypoint
from shared.settings import Settings


class OrdersSettings(Settings):
    table_name: str


app = create_resolver()
settings = OrdersSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> dict:
    caller = caller_of(app)
    item = dynamodb.get_item(
        TableName=settings.table_name,
        Key={"PK": {"S": f"USER#{caller.user_id}"}, "SK": {"S": f"ORDER#{order_id}"}},
    )
    if "Item" not in item:
        raise NotFoundError("Order not found")
    authorize_user(caller, item["Item"]["user_id"]["S"])
    return {"order_id": order_id, "status": item["Item"]["status"]["S"]}


handler = http_entrypoint(app)
