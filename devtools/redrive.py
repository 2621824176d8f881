"""Move the messages of a dead-letter queue back to the queue they came from, once the cause of
their failure is fixed: ``make redrive QUEUE=<name> STAGE=<stage>``
(``python -m devtools.redrive <name> --stage <stage>``).

- ``QUEUE`` is the dead-letter queue's name, or a part of it that names one queue of the stage
  (``notifications-dev-dlq`` or just ``dlq`` if the stage has one).
- The source is the queue whose redrive policy names this DLQ (``ListDeadLetterSourceQueues``);
  when several do, each message goes back to the queue AWS recorded on it
  (``DeadLetterQueueSourceArn``).
- Against AWS it uses the default credentials chain and region; with ``AWS_ENDPOINT_URL`` set (the
  local stack prints it), the local endpoint.

Each batch is sent to the source first and deleted from the DLQ only once sent, so a crash in
between leaves a message in both places (delivered twice, never lost); consumers deduplicate on
the event id. A message that fails again and comes back to the DLQ during the run is left there:
the run stops rather than loop on a consumer that is still broken.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_REGION = "us-east-1"  # where the services deploy unless told otherwise (serverless.yml)
VISIBILITY_SECONDS = 60  # long enough to send a batch and delete it from the DLQ
_MESSAGE_ATTRIBUTE_KEYS = ("DataType", "StringValue", "BinaryValue")


class RedriveError(Exception):
    """The DLQ cannot be redriven as asked; the message says why and what to do."""


@dataclass
class Report:
    dead_letter_queue: str
    moved: Counter[str] = field(default_factory=Counter)  # source queue name -> messages moved
    not_moved: int = 0  # refused by the source queue; still in the DLQ
    came_back: int = 0  # failed again during this run; left in the DLQ
    left: int = 0  # approximate number still in the DLQ at the end

    def lines(self) -> list[str]:
        lines = [
            f"moved {count} message(s) {self.dead_letter_queue} -> {q}" for q, count in self.moved.items()
        ]
        if not self.moved:
            lines.append(f"moved nothing: {self.dead_letter_queue} was empty")
        if self.not_moved:
            lines.append(f"{self.not_moved} message(s) refused by the source queue, still in the DLQ")
        if self.came_back:
            lines.append(f"{self.came_back} message(s) failed again and came back: is the consumer fixed?")
        lines.append(f"{self.dead_letter_queue} now holds about {self.left} message(s)")
        return lines


def _name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def find_queue(sqs: Any, name: str, stage: str) -> str:
    """The URL of the queue called ``name``, or of the one queue of ``stage`` whose name holds it."""
    urls = []
    for page in sqs.get_paginator("list_queues").paginate():
        urls += page.get("QueueUrls", [])
    exact = [url for url in urls if _name(url) == name]
    if exact:
        return exact[0]
    candidates = [url for url in urls if f"-{stage}-" in f"{_name(url)}-" and name in _name(url)]
    if len(candidates) == 1:
        return candidates[0]
    found = ", ".join(sorted(_name(url) for url in candidates)) or "none"
    raise RedriveError(f"no single queue of stage {stage!r} matches {name!r} (matches: {found})")


def source_queues(sqs: Any, dead_letter_queue: str) -> list[str]:
    sources = []
    for page in sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dead_letter_queue):
        sources += page.get("queueUrls", [])
    return sources


def _queue_arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _resend_entry(index: int, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    attributes = {
        name: {key: value[key] for key in _MESSAGE_ATTRIBUTE_KEYS if key in value}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    system = message.get("Attributes", {})
    if "MessageGroupId" in system:  # FIFO: keep the order group; a fresh id, or SQS drops it
        entry["MessageGroupId"] = system["MessageGroupId"]
        entry["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"
    return entry


def redrive(sqs: Any, dead_letter_queue: str, *, wait_seconds: int = 2) -> Report:
    """Move every message of ``dead_letter_queue`` back to its source queue."""
    sources = source_queues(sqs, dead_letter_queue)
    if not sources:
        raise RedriveError(f"{_name(dead_letter_queue)} is the dead-letter queue of no queue")
    source_by_arn = {_queue_arn(sqs, url): url for url in sources}
    report = Report(_name(dead_letter_queue))
    # A message that comes back during this run is left for the next one: SQS keeps its id when it
    # moves it to the DLQ again; a consumer that dead-letters it itself sends the same body anew.
    resent: set[str] = set()  # ids and body digests of the messages moved in this run

    def returned(message: dict[str, Any]) -> bool:
        return message["MessageId"] in resent or _digest(message) in resent

    while messages := _receive(sqs, dead_letter_queue, wait_seconds):
        came_back = [m for m in messages if returned(m)]
        fresh = [m for m in messages if not returned(m)]
        try:
            by_source = _by_source(fresh, source_by_arn, dead_letter_queue)
        except RedriveError:
            _release(sqs, dead_letter_queue, messages)
            raise
        _release(sqs, dead_letter_queue, came_back)
        report.came_back += len(came_back)
        for source, batch in by_source.items():
            _move(sqs, dead_letter_queue, source, batch, report, resent)
        if came_back:
            break
    # Visible or not: a message the source refused stays hidden for VISIBILITY_SECONDS.
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=dead_letter_queue, AttributeNames=counts)["Attributes"]
    report.left = sum(int(attributes[name]) for name in counts)
    return report


def _receive(sqs: Any, queue_url: str, wait_seconds: int) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=wait_seconds,
        VisibilityTimeout=VISIBILITY_SECONDS,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


def _release(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Make received messages visible again now, not after ``VISIBILITY_SECONDS``."""
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def _by_source(
    messages: list[dict[str, Any]], source_by_arn: dict[str, str], dead_letter_queue: str
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        recorded = message.get("Attributes", {}).get("DeadLetterQueueSourceArn")
        if recorded in source_by_arn:
            source = source_by_arn[recorded]
        elif len(source_by_arn) == 1:
            source = next(iter(source_by_arn.values()))
        else:
            names = ", ".join(sorted(_name(url) for url in source_by_arn.values()))
            raise RedriveError(
                f"{_name(dead_letter_queue)} serves several queues ({names}) and a message has no source"
            )
        grouped.setdefault(source, []).append(message)
    return grouped


def _digest(message: dict[str, Any]) -> str:
    return hashlib.sha256(message["Body"].encode()).hexdigest()


def _move(
    sqs: Any, dead_letter_queue: str, source: str, batch: list[dict], report: Report, resent: set[str]
) -> None:
    sent = sqs.send_message_batch(
        QueueUrl=source, Entries=[_resend_entry(index, message) for index, message in enumerate(batch)]
    )
    done = [batch[int(success["Id"])] for success in sent.get("Successful", [])]
    resent.update(success["MessageId"] for success in sent.get("Successful", []))
    resent.update(_digest(message) for message in done)
    report.not_moved += len(sent.get("Failed", []))
    if done:
        deleted = sqs.delete_message_batch(
            QueueUrl=dead_letter_queue,
            Entries=[{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(done)],
        )
        # A failed delete leaves a copy in the DLQ: at least once, never lost.
        report.moved[_name(source)] += len(deleted.get("Successful", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Move a dead-letter queue's messages back to their queue.")
    parser.add_argument("queue", help="the dead-letter queue's name, or a part naming one queue of the stage")
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    args = parser.parse_args(argv)
    # boto3 reads AWS_ENDPOINT_URL itself: set, it is the local stack; unset, AWS.
    sqs = boto3.client("sqs", region_name=args.region or DEFAULT_REGION)
    target = os.environ.get("AWS_ENDPOINT_URL") or f"AWS ({sqs.meta.region_name})"
    try:
        dead_letter_queue = find_queue(sqs, args.queue, args.stage)
        print(f"redriving {_name(dead_letter_queue)} on {target}")
        report = redrive(sqs, dead_letter_queue)
    except (RedriveError, BotoCoreError, ClientError) as error:  # no credentials, no endpoint, no access
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 1 if report.not_moved or report.came_back else 0


if __name__ == "__main__":
    sys.exit(main())
