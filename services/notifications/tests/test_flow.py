"""Events published on the shared bus, routed by this service's rules into its queue and delivered
to the deliver function by ``devtools.emulator.plumbing`` as Lambda's event source mapping would (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.emulator.plumbing import Delivery, Plumbing
from devtools.ops.redrive import Report, find_queue, redrive
from devtools.template import Stacks
from shared.events.envelope import Envelope

DELIVER = "shop-notifications-dev-deliver"


@pytest.fixture
def publish(aws: Stacks) -> Any:
    """Put events on the shared bus, as the producers' outbox publishers do."""
    events = boto3.client("events")
    bus = aws.physical_name("bus", "EventBus")

    def put(*envelopes: Envelope) -> None:
        response = events.put_events(Entries=[envelope.to_entry(bus) for envelope in envelopes])
        assert response["FailedEntryCount"] == 0

    return put


@pytest.fixture
def attempts(plumbing: Plumbing) -> list[Delivery]:
    """Every invocation of deliver by the plumbing, in order."""
    seen: list[Delivery] = []
    plumbing.on_delivery = lambda delivery: seen.append(delivery) if delivery.function == DELIVER else None
    return seen


def redrive_dead_letters() -> Report:
    """What ``make redrive QUEUE=shop-notifications-dev-events-dlq STAGE=dev`` does, on moto."""
    sqs = boto3.client("sqs")
    return redrive(sqs, find_queue(sqs, "shop-notifications-dev-events-dlq", "dev"), wait_seconds=0)


def test_the_rules_route_what_this_service_consumes_and_nothing_else(
    aws, plumbing, publish, events, ses, mailbox, table, dead_letters
):
    publish(events.user_created(), events.user_updated(email="new@example.com"))
    plumbing.drain()
    not_ours = events.order_confirmed().to_entry(aws.physical_name("bus", "EventBus"))
    not_ours["DetailType"] = "OrderShipped"  # the same bus and source, a detail-type our rules do not name
    boto3.client("events").put_events(Entries=[not_ours])
    publish(
        events.order_confirmed(), events.order_failed(order_id="o2"), events.order_cancelled(order_id="o3")
    )
    plumbing.drain()
    publish(events.user_deleted())
    plumbing.drain()
    publish(events.order_confirmed(order_id="o4"))
    plumbing.drain()

    sent = mailbox()
    assert [m.subject for m in sent] == [
        "Welcome to the Shop, Ann",
        "Your order o1 is confirmed",
        "Your order o2 could not be completed",
        "Your order o3 was cancelled",
    ]
    assert [m.to for m in sent[1:]] == [["new@example.com"]] * 3
    assert len(table.notifications("u1")) == 4
    assert table.get("USER#u1", "PROFILE")["deleted"] == {"BOOL": True}
    assert dead_letters() == []


def test_an_ses_outage_retries_then_dead_letters_and_a_redrive_sends_exactly_once(
    aws, plumbing, attempts, publish, events, ses, mailbox, table, dead_letters, deliver_spec
):
    sender = deliver_spec.environment["SENDER_EMAIL"]
    publish(events.user_created())
    plumbing.drain()
    ses.delete_email_identity(EmailIdentity=sender)  # SES rejects everything from now on
    confirmed = events.order_confirmed()
    attempts.clear()

    publish(confirmed)
    plumbing.drain()

    assert [(a.records, a.failed) for a in attempts] == [(1, 1)] * 5  # the queue's maxReceiveCount
    assert [m.subject for m in mailbox()] == ["Welcome to the Shop, Ann"]
    [pending] = [n for n in table.notifications("u1") if n["template"]["S"] == "order_confirmed"]
    assert pending["status"] == {"S": "pending"}
    assert "MessageRejected" in table.get(f"EVENT#{confirmed.metadata.event_id}", "EVENT")["last_error"]["S"]

    ses.create_email_identity(EmailIdentity=sender)  # SES is back
    report = redrive_dead_letters()
    assert (report.moved, report.kept, report.came_back) == ({"shop-notifications-dev-events": 1}, {}, 0)
    plumbing.drain()
    publish(confirmed)  # and a replay from the bus archive, for good measure
    plumbing.drain()

    assert [m.subject for m in mailbox()] == ["Welcome to the Shop, Ann", "Your order o1 is confirmed"]
    [sent] = [n for n in table.notifications("u1") if n["template"]["S"] == "order_confirmed"]
    assert sent["SK"] == pending["SK"]
    assert sent["status"] == {"S": "sent"}
    assert dead_letters() == []
