"""Orders HTTP API (router Lambda): place, read, list and cancel orders."""

from __future__ import annotations

from typing import Annotated

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from orders.adapters.intake_queue import SqsIntakeQueue
from orders.adapters.orders_table import OrdersTable
from orders.domain import cancelling, placing, reading
from orders.domain.model import InvalidTransition, NoProfile, NotAllowed, OrderNotFound
from orders.domain.ports import InvalidCursor, StatusConflict
from orders.schemas import (
    IDEMPOTENCY_KEY_PATTERN,
    ORDER_ID_PATTERN,
    USER_ID_PATTERN,
    KeyedPlaceOrder,
    OrdersPageView,
    OrderView,
    PlacedOrder,
    PlaceOrderRequest,
)
from orders.settings import ApiSettings
from shared.events.envelope import utc_now
from shared.http import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    caller_of,
    create_resolver,
    http_entrypoint,
)
from shared.observability import metrics

app = create_resolver()
settings = ApiSettings.load()
dynamodb = boto3.client("dynamodb", region_name=settings.aws_region)
orders = OrdersTable(dynamodb, settings.table_name)
intake = SqsIntakeQueue(boto3.client("sqs", region_name=settings.aws_region), settings.intake_queue_url)
idempotency = IdempotencyConfig(
    event_key_jmespath="[user_id, idempotency_key]",
    payload_validation_jmespath="order",
    expires_after_seconds=settings.idempotency_ttl_seconds,
)
idempotency_store = DynamoDBPersistenceLayer(
    table_name=settings.idempotency_table_name, boto3_client=dynamodb
)

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)]


def _accept(user_id: str, request: PlaceOrderRequest, idempotency_key: str | None = None) -> PlacedOrder:
    order = placing.accept_order(
        user_id,
        request.lines(),
        request.currency,
        request.payment_token,
        correlation_id=app.context["correlation_id"],
        now=utc_now(),
        orders=orders,
        intake=intake,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="OrdersAccepted", unit="Count", value=1)
    return PlacedOrder(order_id=order.order_id)


# A fixed key prefix: by default Powertools prefixes the key with the function's and the Python
# module's names, so a deploy that renames either would let a retry place a second order.
@idempotent_function(
    data_keyword_argument="keyed",
    persistence_store=idempotency_store,
    config=idempotency,
    key_prefix="place_order",
)
def _accept_once(keyed: KeyedPlaceOrder) -> dict:
    return _accept(keyed.user_id, keyed.order, keyed.idempotency_key).model_dump(mode="json")


@app.post("/orders")
def place_order(
    body: PlaceOrderRequest,
    idempotency_key: IdempotencyKey = None,
) -> Response[PlacedOrder]:
    caller = caller_of(app)
    if idempotency_key is None:
        placed = _accept(caller.user_id, body)
    else:
        idempotency.register_lambda_context(app.lambda_context)
        keyed = KeyedPlaceOrder(user_id=caller.user_id, idempotency_key=idempotency_key, order=body)
        placed = PlacedOrder.model_validate(_accept_once(keyed=keyed))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=placed)


@app.get("/orders/<order_id>")
def get_order(order_id: OrderId) -> OrderView:
    return OrderView.of(reading.view_order(order_id, caller_of(app), orders))


@app.post("/orders/<order_id>/cancel")
def cancel_order(order_id: OrderId) -> OrderView:
    cancelled = cancelling.cancel_order(
        order_id, caller_of(app), correlation_id=app.context["correlation_id"], now=utc_now(), orders=orders
    )
    metrics.add_metric(name="OrdersCancelled", unit="Count", value=1)
    return OrderView.of(cancelled)


@app.get("/users/<user_id>/orders")
def list_user_orders(
    user_id: Annotated[str, Path(pattern=USER_ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
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


@app.exception_handler(NotAllowed)
def _not_allowed(error: NotAllowed) -> Response:
    raise ForbiddenError("You may only access your own orders")


@app.exception_handler(InvalidTransition)
def _final_status(error: InvalidTransition) -> Response:
    raise ConflictError(f"Order is {error.current} and can no longer be {error.wanted.lower()}")


@app.exception_handler(StatusConflict)
def _status_changed(error: StatusConflict) -> Response:
    raise ConflictError("Order changed while it was being updated; read it again")


@app.exception_handler(InvalidCursor)
def _bad_cursor(error: InvalidCursor) -> Response:
    raise BadRequestError("Invalid cursor")


@app.exception_handler(IdempotencyValidationError)
def _key_reused(error: IdempotencyValidationError) -> Response:
    raise ConflictError("This Idempotency-Key was already used with a different order")


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _key_in_progress(error: IdempotencyAlreadyInProgressError) -> Response:
    raise ConflictError("An order with this Idempotency-Key is still being placed")


handler = http_entrypoint(app)
