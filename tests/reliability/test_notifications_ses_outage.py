"""SES refusing one customer's mail, end to end on moto: the record is retried alone until the
queue's ``maxReceiveCount``, then waits in the dead-letter queue while the rest of the batch is
delivered; once SES takes mail again, ``devtools.ops.redrive.redrive`` (what ``make redrive`` runs)
moves it back and it is sent exactly once, and recorded once."""

from __future__ import annotations

import boto3

from devtools.ops.redrive import redrive
from devtools.testkit.eventbridge import publish
from tests.reliability.consumers import only, record_deliveries
from tests.reliability.events import order_confirmed, user_created
from tests.reliability.notifications_support import emails_sent, notifications
from tests.reliability.selective_faults import FailWhen

USERS = [f"u{index}" for index in range(5)]
VICTIM = "u2"
MAX_RECEIVES = 5  # the events queue's maxReceiveCount


def queue_depth(sqs, queue_url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_mail_ses_refuses_is_dead_lettered_then_redriven_and_sent_exactly_once(
    aws, plumbing, aws_faults, verified_senders
):
    only(plumbing, "notifications", "deliver")
    publish(aws, *(user_created(user) for user in USERS))
    plumbing.drain()
    deliveries = record_deliveries(plumbing)
    victim = f"{VICTIM}@example.com"
    outage = aws_faults.on(
        "SendEmail",
        FailWhen(
            "SendEmail",
            matches=lambda params: params["Destination"]["ToAddresses"] == [victim],
            key=lambda params: params["Destination"]["ToAddresses"][0],
            code="MessageRejected",
            times=None,  # until it is healed
        ),
    )
    sqs = boto3.client("sqs")
    dead_letter_queue = sqs.get_queue_url(QueueName=aws.physical_name("notifications", "EventsDLQ"))[
        "QueueUrl"
    ]
    confirmations = {user: order_confirmed(user) for user in USERS}

    publish(aws, *confirmations.values())
    plumbing.drain()

    # The batch, then the victim alone until SQS gave up on it.
    assert [(d.records, d.failed) for d in deliveries] == [(5, 1)] + [(1, 1)] * (MAX_RECEIVES - 1)
    assert outage.failed == MAX_RECEIVES
    assert queue_depth(sqs, dead_letter_queue) == 1
    [pending] = [n for n in notifications(aws, VICTIM) if n["template"]["S"] == "order_confirmed"]
    assert pending["status"] == {"S": "pending"}
    assert (victim, f"Your order o-{VICTIM} is confirmed") not in emails_sent(aws)

    outage.heal()
    deliveries.clear()
    report = redrive(sqs, dead_letter_queue, wait_seconds=0)
    plumbing.drain()
    publish(aws, confirmations[VICTIM])  # and a replay from the bus archive, for good measure
    plumbing.drain()

    assert (report.moved, report.kept, report.came_back) == ({"shop-notifications-dev-events": 1}, {}, 0)
    assert [(d.records, d.failed) for d in deliveries] == [(1, 0), (1, 0)]
    assert queue_depth(sqs, dead_letter_queue) == 0
    assert emails_sent(aws) == {
        (f"{user}@example.com", subject): 1
        for user in USERS
        for subject in (f"Welcome to the Shop, {user.upper()}", f"Your order o-{user} is confirmed")
    }
    [sent] = [n for n in notifications(aws, VICTIM) if n["template"]["S"] == "order_confirmed"]
    assert (sent["SK"], sent["status"]) == (pending["SK"], {"S": "sent"})
    assert sent["event_id"] == {"S": confirmations[VICTIM].metadata.event_id}
    # A second run finds nothing to move: the redrive itself delivers nothing twice.
    assert redrive(sqs, dead_letter_queue, wait_seconds=0).moved == {}
