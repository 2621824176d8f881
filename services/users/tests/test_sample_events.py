"""The sample events in events/ (for `serverless invoke local`), each accepted by its handler on
moto, in the order the flow produces them (tests/infra/test_sample_events.py checks that every
function and route has one)."""

from __future__ import annotations

import json
from functools import partial


def test_the_samples_run_through_their_handlers(run_sample):
    run = partial(run_sample, "users")

    assert run("api", "create_user")["statusCode"] == 201
    assert json.loads(run("api", "get_user")["body"])["email"] == "ann@example.com"
    assert json.loads(run("api", "update_user")["body"])["name"] == "Ann Smith"
    assert run("publish-events", "publish_events") == {"batchItemFailures": []}
    assert run("api", "delete_user")["statusCode"] == 204
    assert run("api", "get_user")["statusCode"] == 404
