"""20 concurrent ``POST /orders`` from one caller with one ``Idempotency-Key``, each request in its
own execution environment (as Lambda runs concurrent invocations), in threads against moto.

The rule of the key's claim, which the API uses: the first request to write the key's claim (a
conditional ``PutItem`` in the orders table, held by that request until its invocation is over)
places the order; a duplicate arriving while it is in flight is refused with 409 "still being
placed" (``KeyInFlight``) and queues nothing; a duplicate arriving after the order was queued gets
202 with the same order id. The worst interleaving is forced, not hoped for: the winner is held
after its claim and before it queues the order until every duplicate has been refused.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.exceptions import ClientError

from devtools.testkit.http import HttpResult, api_routes, http_request
from tests.reliability.consumers import only
from tests.reliability.faults import Call
from tests.reliability.lambdas import execution_environments
from tests.reliability.orders_support import ORDER, create_profiles, orders_of, outbox

REQUESTS = 20
KEY = "checkout-42"


class FirstHeldInFlight:
    """Holds the request that won the key's claim at its ``SendMessage`` (order not yet queued,
    the claim still held) until ``duplicates`` others have been refused that claim."""

    def __init__(self, duplicates: int) -> None:
        self._duplicates = duplicates
        self._lock = threading.Lock()
        self.refused = 0
        self._all_refused = threading.Event()

    def put_item(self, call: Call, params: dict) -> dict:
        try:
            return call(params)
        except ClientError as error:
            if params["Item"]["PK"]["S"].startswith("IDEMPOTENCY#") and error.response["Error"]["Code"] == (
                "ConditionalCheckFailedException"
            ):
                with self._lock:
                    self.refused += 1
                    if self.refused == self._duplicates:
                        self._all_refused.set()
            raise

    def send_message(self, call: Call, params: dict) -> dict:
        assert self._all_refused.wait(timeout=60), f"only {self.refused} duplicates were refused"
        return call(params)


def test_20_concurrent_posts_with_one_idempotency_key_place_one_order(
    aws, plumbing, concurrent_aws_faults, function_specs
):
    only(plumbing, "orders", "process-intake")
    create_profiles(aws, plumbing, "u1")
    spec = function_specs["shop-orders-dev-api"]
    held = FirstHeldInFlight(duplicates=REQUESTS - 1)
    concurrent_aws_faults.on("PutItem", held.put_item)
    concurrent_aws_faults.on("SendMessage", held.send_message)
    environments = execution_environments(spec, REQUESTS)
    table = api_routes(aws, "orders")

    def post(index: int) -> HttpResult:
        return http_request(
            environments[index], table, "POST", "/orders", body=ORDER, headers={"Idempotency-Key": KEY}
        )

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        results = list(pool.map(post, range(REQUESTS)))

    assert Counter(result.status for result in results) == {202: 1, 409: REQUESTS - 1}
    [placed] = [result.body for result in results if result.status == 202]
    assert placed["status"] == "PENDING"
    assert {r.body["message"] for r in results if r.status == 409} == {
        "An order with this Idempotency-Key is still being placed"
    }
    # The refused clients try again once the first request is done: the stored answer, nothing new.
    retries = [post(index) for index, result in enumerate(results) if result.status == 409]
    assert {(retry.status, retry.body["order_id"]) for retry in retries} == {(202, placed["order_id"])}

    sqs = boto3.client("sqs")
    depth = sqs.get_queue_attributes(
        QueueUrl=aws.ref("orders", "IntakeQueue"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "1"
    while plumbing.deliver_queues():
        pass
    [order] = orders_of(aws, "u1")
    assert order["order_id"] == {"S": placed["order_id"]}
    assert [(e["detail_type"], e["data"]["order_id"]) for e in outbox(aws)] == [
        ("OrderPlaced", placed["order_id"])
    ]
