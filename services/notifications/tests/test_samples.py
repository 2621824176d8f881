"""The sample events of events/ (what `serverless invoke local` is given) work through the real
handlers, in the order a user's story produces them."""

from __future__ import annotations

import json
from pathlib import Path

EVENTS = Path(__file__).parent.parent / "events"
STORY = [
    "deliver_user_created",
    "deliver_user_updated",
    "deliver_order_confirmed",
    "deliver_order_failed",
    "deliver_order_cancelled",
    "deliver_user_deleted",
]


def test_every_sample_is_in_the_story():
    assert sorted([*STORY, "list_notifications"]) == sorted(path.stem for path in EVENTS.glob("*.json"))


def test_the_samples_through_deliver_then_the_api(deliver, run_sample, sample_event, mailbox):
    for name in STORY:
        assert deliver(sample_event("notifications", name)) == {"batchItemFailures": []}, name

    assert [m.to for m in mailbox()] == [["ann@example.com"]] + [["ann.smith@example.com"]] * 3
    response = run_sample("notifications", "api", "list_notifications")
    assert response["statusCode"] == 200
    assert len(json.loads(response["body"])["notifications"]) == 4
