"""The orders service's events under faults, end to end on moto: API and intake writes → the orders
table's stream → the real publish-events Lambda (through the event source mapping of the packaged
template) → ``PutEvents`` → a catch-all rule on the shared bus → an SQS queue where every event is
counted.

Intents are the outbox items the orders service wrote; effects are the ``shop.orders`` events
that reached the bus, compared by event id.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import boto3
import pytest

from devtools.emulator.plumbing import Plumbing
from devtools.template import Stacks
from devtools.testkit.http import HttpResult, api_routes, http_request
from shared.events.envelope import utc_now
from shared.publisher import MAX_ENTRIES_PER_CALL
from tests.reliability.consumers import only
from tests.reliability.faults import FlakyPutEvents, KillAfter, LambdaKilled
from tests.reliability.orders_support import ORDER, create_profiles, orders_of, outbox

PUBLISHER_ATTEMPTS = 5  # shared.publisher.EventPublisher's default max_attempts


def deliver_all(plumbing: Plumbing, max_rounds: int = 20) -> int:
    """Run the (narrowed) plumbing until nothing moves; returns the rounds that moved records."""
    for rounds in range(max_rounds):
        if plumbing.pump() == 0:
            return rounds
    raise AssertionError(f"records still moving after {max_rounds} rounds")


def orders_events_on_the_bus(bus_recorder) -> Counter[str]:
    """How many times each ``shop.orders`` event (by ``metadata.event_id``) reached the bus."""
    return Counter(
        event["detail"]["metadata"]["event_id"]
        for event in bus_recorder.events()
        if event["source"] == "shop.orders"
    )


def place_and_cancel(
    call_http, aws: Stacks, plumbing: Plumbing, users: int, orders: int, cancels: int
) -> None:
    """``orders`` orders spread over ``users`` users, recorded by process-intake (``OrderPlaced``
    each), then ``cancels`` of them cancelled through the API (``OrderCancelled`` each)."""
    names = [f"u{index:02d}" for index in range(users)]
    create_profiles(aws, plumbing, *names)
    placed = []
    for index in range(orders):
        user = names[index % users]
        reply = call_http("orders", "POST", "/orders", body=ORDER, user=user)
        assert reply.status == 202, reply.body
        placed.append((user, reply.body["order_id"]))
    only(plumbing, "orders", "process-intake")
    deliver_all(plumbing)
    for user, order_id in placed[:cancels]:
        assert call_http("orders", "POST", f"/orders/{order_id}/cancel", user=user).status == 200


def test_every_orders_event_reaches_the_bus_exactly_once_under_put_events_faults(
    call_http, aws, aws_faults, plumbing, bus_recorder, publisher_waits
):
    """30% of the entries of every call refused, and the first two calls throttled whole (the
    users suite runs each fault alone through the same ``shared.outbox`` code)."""
    place_and_cancel(call_http, aws, plumbing, users=10, orders=40, cancels=10)
    intents = [event["event_id"] for event in outbox(aws)]
    assert Counter(event["detail_type"] for event in outbox(aws)) == {"OrderPlaced": 40, "OrderCancelled": 10}
    waits = publisher_waits("orders")
    fault = aws_faults.on("PutEvents", FlakyPutEvents(refused_share=0.3, throttled_calls=2))
    only(plumbing, "orders", "publish-events")

    rounds = deliver_all(plumbing)

    received = orders_events_on_the_bus(bus_recorder)
    assert set(received) == set(intents), "an event was lost"
    assert [event for event, count in received.items() if count > 1] == [], "an event was duplicated"
    # The faults happened, and the publisher's own retries absorbed them within one invocation.
    assert fault.refused > 0
    assert fault.throttled == 2
    assert fault.calls > len(intents) / MAX_ENTRIES_PER_CALL
    assert len(waits) >= 1
    assert rounds == 1


def kill_intake_after_its_write(call_http, aws: Stacks, plumbing: Plumbing, aws_faults) -> int:
    """process-intake dies right after its transaction (order + OrderPlaced) committed; Lambda
    never deletes the message, so SQS delivers it again once its visibility timeout is over."""
    reply = call_http("orders", "POST", "/orders", body=ORDER, user="u1")
    assert reply.status == 202
    sqs = boto3.client("sqs")
    # The visibility timeout (60 s) runs out at once here, rather than after a minute.
    sqs.set_queue_attributes(QueueUrl=aws.ref("orders", "IntakeQueue"), Attributes={"VisibilityTimeout": "0"})
    only(plumbing, "orders", "process-intake")
    kill = aws_faults.on("TransactWriteItems", KillAfter())
    with pytest.raises(LambdaKilled):
        plumbing.deliver_queues()
    assert plumbing.deliver_queues() == 1  # the redelivery, which finds the order recorded
    assert plumbing.deliver_queues() == 0
    return kill.kills


def kill_cancel_after_its_write(call_http, aws: Stacks, plumbing: Plumbing, aws_faults) -> int:
    """The API dies right after the cancel's transaction (status + OrderCancelled) committed;
    API Gateway answers 5xx, so the client tries again and gets 409: the order is cancelled."""
    order_id = call_http("orders", "POST", "/orders", body=ORDER, user="u1").body["order_id"]
    only(plumbing, "orders", "process-intake")
    deliver_all(plumbing)
    kill = aws_faults.on("TransactWriteItems", KillAfter())
    with pytest.raises(LambdaKilled):
        call_http("orders", "POST", f"/orders/{order_id}/cancel", user="u1")
    retry = call_http("orders", "POST", f"/orders/{order_id}/cancel", user="u1")
    assert (retry.status, retry.body["message"]) == (409, "Order is CANCELLED and can no longer be cancelled")
    return kill.kills


@pytest.mark.parametrize(
    ("kill", "events"),
    [
        pytest.param(kill_intake_after_its_write, ["OrderPlaced"], id="process-intake"),
        pytest.param(kill_cancel_after_its_write, ["OrderPlaced", "OrderCancelled"], id="cancel"),
    ],
)
def test_a_lambda_killed_after_its_write_still_sends_the_event_once(
    call_http, aws, aws_faults, plumbing, bus_recorder, kill, events
):
    create_profiles(aws, plumbing, "u1")

    assert kill(call_http, aws, plumbing, aws_faults) == 1
    only(plumbing, "orders", "publish-events")
    deliver_all(plumbing)

    assert sorted(e["detail_type"] for e in outbox(aws)) == sorted(events)
    received = orders_events_on_the_bus(bus_recorder)
    assert set(received) == {e["event_id"] for e in outbox(aws)}
    assert set(received.values()) == {1}


def test_a_post_killed_after_queueing_its_order_places_one_order_whatever_the_retries(
    aws, aws_faults, plumbing, lambda_function, monkeypatch
):
    """POST /orders with an Idempotency-Key dies after the order went on the intake queue and
    before it marked the key's order queued: the key stays held by that invocation until its time
    is surely over. A retry before that is 409; a retry after it takes the key over, finds the order
    it already names, and queues that order again, which the intake records once: the caller gets
    the id of the one order recorded, whichever answer it kept."""
    create_profiles(aws, plumbing, "u1")
    api = lambda_function("orders", "api")
    table = api_routes(aws, "orders")

    def post() -> HttpResult:
        return http_request(
            api, table, "POST", "/orders", body=ORDER, headers={"Idempotency-Key": "checkout-7"}
        )

    kill = aws_faults.on("SendMessage", KillAfter())
    with pytest.raises(LambdaKilled):
        post()
    early = post()
    # Time passes: the killed invocation is surely over (Lambda's longest timeout is 15 minutes).
    later = utc_now() + timedelta(minutes=15)
    monkeypatch.setattr("orders.handlers.api.utc_now", lambda: later)
    late = post()
    only(plumbing, "orders", "process-intake")
    deliver_all(plumbing)

    assert kill.kills == 1
    assert (early.status, early.body["message"]) == (
        409,
        "An order with this Idempotency-Key is still being placed",
    )
    assert late.status == 202
    [order] = orders_of(aws, "u1")
    assert late.body["order_id"] == order["order_id"]["S"]
    assert [(e["detail_type"], e["data"]["order_id"]) for e in outbox(aws)] == [
        ("OrderPlaced", order["order_id"]["S"])
    ]
    read = http_request(api, table, "GET", f"/orders/{late.body['order_id']}", user="u1")
    assert read.status == 200
