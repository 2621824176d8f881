"""The local stack's handlers share one process, yet each invocation runs as its own function."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from devtools.local.stack import LocalPlumbing
from devtools.template import Stacks
from shared.observability import logger, metrics


def test_each_log_line_names_the_service_of_the_function_that_wrote_it(
    aws: Stacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    plumbing = LocalPlumbing(aws, boto3.Session())
    printed = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", printed)  # where the JSON lines go

    for function in ("shop-users-dev-publish-events", "shop-orders-dev-publish-events") * 2:
        plumbing.invoke(function, {"Records": []})

    lines = [json.loads(line) for line in printed.getvalue().splitlines()]
    assert [(line["function_name"], line["service"]) for line in lines] == [
        ("shop-users-dev-publish-events", "users"),
        ("shop-orders-dev-publish-events", "orders"),
    ] * 2


def test_metrics_carry_the_namespace_and_service_of_the_function(
    aws: Stacks, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the stack's default is off
    # As the stack's Metrics is built: before any function's environment applies.
    monkeypatch.setattr(metrics, "namespace", None)
    monkeypatch.setattr(metrics, "service", None)
    plumbing = LocalPlumbing(aws, boto3.Session())
    record = {"messageId": "m1", "receiptHandle": "r1", "body": "not an event", "attributes": {}}

    plumbing.invoke("shop-notifications-dev-deliver", {"Records": [record]})  # EventRejected: 1

    [blob] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "shop"
    assert (blob["service"], blob["EventRejected"]) == ("notifications", [1.0])
