"""The sample events in events/ (for `serverless invoke local`), each accepted by its handler on
moto, in the order the flow produces them (tests/infra/test_sample_events.py checks that every
function and route has one)."""

from __future__ import annotations

from functools import partial

import pytest

from orders.domain.model import OrderNotPending
from orders.domain.ports import PaymentDeclined


def test_the_samples_run_through_their_handlers(run_sample):
    run = partial(run_sample, "orders")

    assert run("sync-profiles", "sync_profiles") == {"batchItemFailures": []}
    assert run("process-intake", "process_intake") == {"batchItemFailures": []}
    assert run("api", "get_order")["statusCode"] == 200
    assert run("api", "list_orders")["statusCode"] == 200
    assert run("start-fulfilment", "start_fulfilment") == {"batchItemFailures": []}
    with pytest.raises(PaymentDeclined):
        run("charge-payment", "charge_payment")  # the sample order pays with tok_decline
    assert run("mark-failed", "mark_failed")["status"] == "FAILED"
    assert run("api", "cancel_order")["statusCode"] == 409
    with pytest.raises(OrderNotPending):
        run("confirm-order", "confirm_order")
    assert run("refund-payment", "refund_payment")["refund_id"].startswith("re_")
    assert run("publish-events", "publish_events") == {"batchItemFailures": []}
    assert run("api", "place_order")["statusCode"] == 202
