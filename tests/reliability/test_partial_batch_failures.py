"""A consumer crashing on one record of a batch retries that record only; the others complete once.

Events go on the shared bus in one ``PutEvents`` call, the rules route them into the consumer's
queue, and the plumbing hands them to the real handler as one SQS batch (the event source mapping
of the packaged template, ``ReportBatchItemFailures``). One record's call fails once, under the
SDK; effects are the calls that reached AWS, counted per user.
"""

from __future__ import annotations

from devtools.testkit.eventbridge import publish
from tests.reliability.consumers import only, record_deliveries
from tests.reliability.events import order_confirmed, user_created
from tests.reliability.notifications_support import emails_sent, notifications
from tests.reliability.orders_support import stored
from tests.reliability.selective_faults import FailWhen

USERS = [f"u{index}" for index in range(5)]
VICTIM = "u2"


def test_orders_sync_profiles_retries_only_the_record_that_crashed(aws, plumbing, aws_faults):
    only(plumbing, "orders", "sync-profiles")
    deliveries = record_deliveries(plumbing)
    profile_writes = aws_faults.on(
        "PutItem",
        FailWhen(
            "PutItem",
            matches=lambda params: params["Item"]["PK"]["S"] == f"USER#{VICTIM}",
            key=lambda params: params["Item"]["PK"]["S"].removeprefix("USER#"),
            code="InternalServerError",
        ),
    )

    publish(aws, *(user_created(user) for user in USERS))
    plumbing.drain()

    assert [(d.records, d.failed) for d in deliveries] == [(5, 1), (1, 0)]
    assert profile_writes.failed == 1
    assert profile_writes.performed == dict.fromkeys(USERS, 1)
    assert all(stored(aws, f"USER#{user}", "PROFILE")["version"] == {"N": "1"} for user in USERS)


def test_notifications_deliver_retries_only_the_record_that_crashed(
    aws, plumbing, aws_faults, verified_senders
):
    only(plumbing, "notifications", "deliver")
    publish(aws, *(user_created(user) for user in USERS))  # profile copies, and a welcome e-mail each
    plumbing.drain()
    deliveries = record_deliveries(plumbing)
    sends = aws_faults.on(
        "SendEmail",
        FailWhen(
            "SendEmail",
            matches=lambda params: params["Destination"]["ToAddresses"] == [f"{VICTIM}@example.com"],
            key=lambda params: params["Destination"]["ToAddresses"][0],
            code="TooManyRequestsException",
        ),
    )

    publish(aws, *(order_confirmed(user) for user in USERS))
    plumbing.drain()

    assert [(d.records, d.failed) for d in deliveries] == [(5, 1), (1, 0)]
    assert sends.failed == 1
    assert sends.performed == {f"{user}@example.com": 1 for user in USERS}
    assert emails_sent(aws) == {
        (f"{user}@example.com", subject): 1
        for user in USERS
        for subject in (f"Welcome to the Shop, {user.upper()}", f"Your order o-{user} is confirmed")
    }
    for user in USERS:
        recorded = notifications(aws, user)
        assert sorted(n["template"]["S"] for n in recorded) == ["order_confirmed", "welcome"]
        assert {n["status"]["S"] for n in recorded} == {"sent"}
