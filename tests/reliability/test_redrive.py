"""``devtools.ops.redrive`` (``make redrive``) on moto: every message of a DLQ goes back to its source
queue once, with its attributes; the command line works against a local endpoint
(``AWS_ENDPOINT_URL``) as the local stack provides it."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest

from devtools.ops.redrive import RedriveError, find_queue, redrive

MAX_RECEIVES = 2


def make_queues(sqs, source: str, dead_letter: str, **source_attributes: str) -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName=dead_letter)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    attributes = {"RedrivePolicy": policy, **source_attributes}
    return sqs.create_queue(QueueName=source, Attributes=attributes)["QueueUrl"], dlq_url


def fail_every_message(sqs, queue_url: str) -> int:
    """A consumer that fails on everything: receive without deleting until SQS moved it all to the DLQ."""
    received = 0
    for _ in range(MAX_RECEIVES + 2):
        while messages := sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        ).get("Messages"):
            received += len(messages)
    return received


def drain(sqs, queue_url: str) -> list[dict]:
    found = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        found += messages
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def depth(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def send(sqs, queue_url: str, count: int, prefix: str = "m") -> None:
    for index in range(count):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps({"n": f"{prefix}{index}"}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": prefix}},
        )


def test_every_message_goes_back_to_its_source_once_with_its_attributes(aws):
    sqs = boto3.client("sqs")
    source, dlq = make_queues(sqs, "shop-demo-dev-work", "shop-demo-dev-work-dlq")
    send(sqs, source, 25)
    fail_every_message(sqs, source)
    assert (depth(sqs, source), depth(sqs, dlq)) == (0, 25)

    report = redrive(sqs, dlq, wait_seconds=0)

    assert report.moved == {"shop-demo-dev-work": 25}
    assert (report.kept, report.came_back, report.left) == ({}, 0, 0)
    back = drain(sqs, source)
    assert Counter(m["Body"] for m in back) == Counter(json.dumps({"n": f"m{i}"}) for i in range(25))
    assert all(m["MessageAttributes"]["kind"]["StringValue"] == "m" for m in back)
    assert depth(sqs, dlq) == 0


def test_a_fifo_message_keeps_its_group(aws):
    sqs = boto3.client("sqs")
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq = sqs.create_queue(QueueName="shop-demo-dev-work-dlq.fifo", Attributes=fifo)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    source = sqs.create_queue(
        QueueName="shop-demo-dev-work.fifo", Attributes={**fifo, "RedrivePolicy": policy}
    )
    sqs.send_message(
        QueueUrl=source["QueueUrl"],
        MessageBody="first",
        MessageGroupId="order-1",
        MessageDeduplicationId="d1",
    )
    fail_every_message(sqs, source["QueueUrl"])

    report = redrive(sqs, dlq, wait_seconds=0)

    assert report.moved == {"shop-demo-dev-work.fifo": 1}
    [message] = sqs.receive_message(QueueUrl=source["QueueUrl"], AttributeNames=["All"])["Messages"]
    assert (message["Body"], message["Attributes"]["MessageGroupId"]) == ("first", "order-1")


def test_a_dlq_of_several_queues_sends_each_message_where_aws_recorded_it_came_from(aws, aws_faults):
    sqs = boto3.client("sqs")
    first, dlq = make_queues(sqs, "shop-demo-dev-first", "shop-demo-dev-shared-dlq")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    second = sqs.create_queue(QueueName="shop-demo-dev-second", Attributes={"RedrivePolicy": policy})[
        "QueueUrl"
    ]
    send(sqs, first, 3, prefix="first")
    send(sqs, second, 4, prefix="second")
    fail_every_message(sqs, first)
    fail_every_message(sqs, second)

    def recorded_source(call, params):
        # AWS stamps DeadLetterQueueSourceArn on each message it moves to a DLQ; moto does not.
        response = call(params)
        for message in response.get("Messages", []):
            origin = json.loads(message["Body"])["n"].rstrip("0123456789")
            arn = f"arn:aws:sqs:us-east-1:123456789012:shop-demo-dev-{origin}"
            message.setdefault("Attributes", {})["DeadLetterQueueSourceArn"] = arn
        return response

    with pytest.raises(RedriveError, match="several queues"):
        redrive(sqs, dlq, wait_seconds=0)  # without the recorded source, nothing is guessed
    aws_faults.on("ReceiveMessage", recorded_source)
    report = redrive(sqs, dlq, wait_seconds=0)

    assert report.moved == {"shop-demo-dev-first": 3, "shop-demo-dev-second": 4}
    assert {json.loads(m["Body"])["n"] for m in drain(sqs, first)} == {"first0", "first1", "first2"}
    assert len(drain(sqs, second)) == 4


def test_messages_that_fail_again_are_left_in_the_dlq_and_reported(aws, aws_faults):
    sqs = boto3.client("sqs")
    source, dlq = make_queues(sqs, "shop-demo-dev-work", "shop-demo-dev-work-dlq")
    send(sqs, source, 5)
    fail_every_message(sqs, source)

    def consumer_still_broken(call, params):
        response = call(params)
        fail_every_message(sqs, params["QueueUrl"])  # the consumer fails on them at once
        return response

    aws_faults.on("SendMessageBatch", consumer_still_broken)
    report = redrive(sqs, dlq, wait_seconds=0)

    assert report.moved == {"shop-demo-dev-work": 5}
    assert report.came_back == 5
    assert depth(sqs, dlq) == 5
    assert "is the consumer fixed?" in "\n".join(report.lines())


def test_the_queue_is_found_by_name_or_by_a_part_unique_in_the_stage(aws):
    sqs = boto3.client("sqs")
    _, dlq = make_queues(sqs, "shop-notifications-qa-events", "shop-notifications-qa-events-dlq")
    make_queues(sqs, "shop-notifications-uat-events", "shop-notifications-uat-events-dlq")
    make_queues(sqs, "shop-orders-qa-intake", "shop-orders-qa-intake-dlq")

    assert find_queue(sqs, "shop-notifications-qa-events-dlq", "uat") == dlq
    assert find_queue(sqs, "notifications-qa-events-dlq", "qa") == dlq
    assert find_queue(sqs, "events-dlq", "qa") == dlq
    with pytest.raises(RedriveError, match="shop-notifications-qa-events-dlq, shop-orders-qa-intake-dlq"):
        find_queue(sqs, "dlq", "qa")
    with pytest.raises(RedriveError, match="no single queue"):
        find_queue(sqs, "payments", "qa")
    with pytest.raises(RedriveError, match="dead-letter queue of no queue"):
        redrive(sqs, find_queue(sqs, "shop-orders-qa-intake", "qa"), wait_seconds=0)


def test_the_command_works_against_the_local_endpoint(local_endpoint, redrive_command):
    sqs = boto3.client("sqs", endpoint_url=local_endpoint)
    source, _ = make_queues(sqs, "shop-demo-cli-work", "shop-demo-cli-work-dlq")
    send(sqs, source, 3)
    fail_every_message(sqs, source)

    run = redrive_command("work-dlq", "--stage", "cli")

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"redriving shop-demo-cli-work-dlq on {local_endpoint}",
        "moved 3 message(s) shop-demo-cli-work-dlq -> shop-demo-cli-work",
        "shop-demo-cli-work-dlq now holds about 0 message(s)",
    ]
    assert depth(sqs, source) == 3


def test_a_consumer_that_dead_letters_messages_itself_does_not_make_the_redrive_loop(aws):
    """Notifications' deliver sends an unreadable record to the DLQ itself, as a new message with
    a new id: the redrive must recognise it by its body and leave it for the operator."""
    sqs = boto3.client("sqs")
    source, dlq = make_queues(sqs, "shop-demo-dev-rejecting", "shop-demo-dev-rejecting-dlq")
    sqs.send_message(QueueUrl=dlq, MessageBody="not an event")
    moves = Counter()
    original_send = sqs.send_message_batch

    def send_then_reject(**request):
        # The consumer runs during the redrive: every message it gets goes straight back to the DLQ.
        sent = original_send(**request)
        for entry in request["Entries"]:
            moves[entry["MessageBody"]] += 1
            sqs.send_message(QueueUrl=dlq, MessageBody=entry["MessageBody"])
        drain(sqs, source)
        return sent

    sqs.send_message_batch = send_then_reject

    report = redrive(sqs, dlq, wait_seconds=0)

    assert moves == {"not an event": 1}
    assert report.moved == {"shop-demo-dev-rejecting": 1}
    assert report.came_back == 1
    assert depth(sqs, dlq) == 1
