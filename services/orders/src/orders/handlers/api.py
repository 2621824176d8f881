"""Orders HTTP API (router Lambda): place, read, list and cancel orders."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path

from orders.adapters.intake_queue import SqsIntakeQueue
from orders.adapters.orders_table import OrdersTable
from orders.domain import cancelling, placing, reading
from orders.domain.model import (
    InvalidTransition,
    KeyInFlight,
    KeyUsedForAnotherOrder,
    NoProfile,
    OrderNotFound,
)
from orders.domain.ports import StatusConflict
from orders.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    ORDER_ID_PATTERN,
    OrdersPageView,
    OrderView,
    PlacedOrder,
    PlaceOrderRequest,
)
from orders.settings import ApiSettings
from shared.events.envelope import utc_now
from shared.http import (
    ConflictError,
    NotFoundError,
    PageCursor,
    PageLimit,
    UserId,
    caller_of,
    create_resolver,
    http_entrypoint,
)
from shared.observability import metrics
from shared.profile_copy_table import DynamoProfileCopy

app = create_resolver()
settings = ApiSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)
orders = OrdersTable(dynamodb, settings.table_name)
profiles = DynamoProfileCopy(dynamodb, settings.table_name)
intake = SqsIntakeQueue(boto3.client("sqs", region_name=settings.aws_region), settings.intake_queue_url)

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)]
ORDER_EXAMPLE = {
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


NO_CALLER = {"description": "The token names no user (no `sub`)"}
FORBIDDEN = {"description": "Not the caller's order, and the caller is not in the admin group"}
NOT_FOUND = {"description": "No order with this id"}


@app.post(
    "/orders",
    operation_id="placeOrder",
    summary="Place an order for the caller",
    description="Accepted orders are `PENDING`; fulfilment (payment, invoice) follows, and the order "
    "ends `CONFIRMED` or `FAILED`. With an `Idempotency-Key`, a retry of the same order gets the "
    "same `order_id` and places nothing twice.",
    responses={
        202: {"description": "Accepted: the order is recorded and queued for fulfilment"},
        403: NO_CALLER,
        409: {
            "description": "No profile is known for the caller yet (create it, then retry), or the "
            "`Idempotency-Key` was used with a different order or is still being placed"
        },
    },
)
def place_order(
    body: Annotated[PlaceOrderRequest, Body(openapi_examples={"two books": {"value": ORDER_EXAMPLE}})],
    idempotency_key: IdempotencyKey = None,
) -> Response[PlacedOrder]:
    now = utc_now()
    order_id = placing.accept_order(
        caller_of(app).user_id,
        body.lines(),
        body.currency,
        body.payment_token,
        correlation_id=app.context["correlation_id"],
        now=now,
        # This invocation holds the key until it surely ended: a retry after that completes the order.
        hold_until=now + timedelta(milliseconds=app.lambda_context.get_remaining_time_in_millis()),
        orders=orders,
        profiles=profiles,
        intake=intake,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="OrdersAccepted", unit="Count", value=1)
    placed = PlacedOrder(order_id=order_id)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=placed)


@app.get(
    "/orders/<order_id>",
    operation_id="getOrder",
    summary="Read an order",
    responses={200: {"description": "The order, with its status history"}, 403: FORBIDDEN, 404: NOT_FOUND},
)
def get_order(order_id: OrderId) -> OrderView:
    return OrderView.of(reading.view_order(order_id, caller_of(app), orders=orders))


@app.post(
    "/orders/<order_id>/cancel",
    operation_id="cancelOrder",
    summary="Cancel an order that is not final yet",
    description="Publishes `OrderCancelled`.",
    responses={
        200: {"description": "The order, cancelled"},
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: {"description": "The order is final already, or changed while it was being cancelled"},
    },
)
def cancel_order(order_id: OrderId) -> OrderView:
    cancelled = cancelling.cancel_order(
        order_id, caller_of(app), correlation_id=app.context["correlation_id"], now=utc_now(), orders=orders
    )
    metrics.add_metric(name="OrdersCancelled", unit="Count", value=1)
    return OrderView.of(cancelled)


@app.get(
    "/users/<user_id>/orders",
    operation_id="listUserOrders",
    summary="A user's profile and orders, newest first",
    description="One page per call: pass `next_cursor` as `cursor` for the next one.",
    responses={
        200: {"description": "The profile (as the orders service knows it) and a page of orders"},
        400: {"description": "The cursor is not one this API returned"},
        403: {"description": "Not the caller's orders, and the caller is not in the admin group"},
    },
)
def list_user_orders(
    user_id: UserId,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> OrdersPageView:
    page = reading.list_orders(user_id, caller_of(app), limit=limit, cursor=cursor, orders=orders)
    return OrdersPageView.of(page)


# Domain outcomes as HTTP answers (bodies as shared.http documents them).
@app.exception_handler(NoProfile)
def _no_profile(error: NoProfile) -> Response:
    raise ConflictError(
        "No profile is known for this user yet: create your profile, then place the order again"
    )


@app.exception_handler(OrderNotFound)
def _not_found(error: OrderNotFound) -> Response:
    raise NotFoundError("Order not found")


@app.exception_handler(InvalidTransition)
def _final_status(error: InvalidTransition) -> Response:
    raise ConflictError(f"Order is {error.current} and can no longer be {error.wanted.lower()}")


@app.exception_handler(StatusConflict)
def _status_changed(error: StatusConflict) -> Response:
    raise ConflictError("Order changed while it was being updated; read it again")


@app.exception_handler(KeyUsedForAnotherOrder)
def _key_reused(error: KeyUsedForAnotherOrder) -> Response:
    raise ConflictError("This Idempotency-Key was already used with a different order")


@app.exception_handler(KeyInFlight)
def _key_in_progress(error: KeyInFlight) -> Response:
    raise ConflictError("An order with this Idempotency-Key is still being placed")


handler = http_entrypoint(app)
