"""Empty a dead-letter queue, or a DynamoDB stream's on-failure queue, once the cause of its
failures is fixed: ``make redrive QUEUE=<name> STAGE=<stage>``
(``python -m devtools.ops.redrive <name> --stage <stage>``).

- ``QUEUE`` is the queue's name, or a part of it that names one queue of the stage
  (``notifications-dev-dlq`` or just ``dlq`` if the stage has one).
- A dead-letter queue: each message goes back to its source, the queue whose redrive policy names
  this DLQ (``ListDeadLetterSourceQueues``); when several do, the queue AWS recorded on the message
  (``DeadLetterQueueSourceArn``).
- A stream's on-failure queue (where a stream mapping reports a batch it gave up on; no queue names
  it as its DLQ): a message holds no records, only where the batch lies (``DDBStreamBatchInfo``)
  and which function gave up (``requestContext.functionArn``). The batch's records are read back
  from the stream (kept 24 h) and the outbox events among them published again with the
  publisher's own code (``shared.outbox``, ``shared.publisher``) on that function's bus: its
  ``EVENT_BUS_NAME`` in the packaged templates of the stage (``make redrive`` packages them), not
  Lambda's ``GetFunctionConfiguration``, which the local stack cannot answer (moto holds no
  functions). A message whose records left the stream, or that another consumer gave up on
  (orders' start-fulfilment shares its queue), is kept and reported: docs/reliability.md says what
  to do.
- Against AWS it uses the default credentials chain and region; with ``AWS_ENDPOINT_URL`` set (the
  local stack prints it), the local endpoint.

A message is deleted only once it is sent to its source, or once every event of its batch is
published, so a crash in between delivers twice, never loses; consumers deduplicate on the event
id. A message kept is visible again when the run ends. A message that fails again and comes back
to the DLQ during the run is left there: the run stops rather than loop on a consumer that is still
broken.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from devtools.emulator.lambda_runtime import functions
from devtools.emulator.plumbing import event_source_mappings
from devtools.template import Stacks, TemplateError
from shared.outbox import outbox_entry
from shared.publisher import EventPublisher, PublishError

DEFAULT_REGION = "us-east-1"  # where the services deploy unless told otherwise (serverless.yml)
VISIBILITY_SECONDS = 60  # long enough to send a batch, or publish a stream batch, and delete it
_MESSAGE_ATTRIBUTE_KEYS = ("DataType", "StringValue", "BinaryValue")
# What DynamoDB Streams answers for records past their 24 hours (or a shard gone with them).
_STREAM_GONE = ("TrimmedDataAccessException", "ResourceNotFoundException")
MAX_EMPTY_PAGES = 5  # GetRecords may answer empty pages before the records; an end never reached is kept
GONE = "its records are no longer in the stream (24 h): republish its outbox items from the table"


class RedriveError(Exception):
    """The queue cannot be redriven as asked; the message says why and what to do."""


class _Kept(Exception):
    """A message stays in the queue; the message says why."""


@dataclass
class Report:
    queue: str
    moved: Counter[str] = field(default_factory=Counter)  # where to (a source queue, a bus) -> messages
    events: Counter[str] = field(default_factory=Counter)  # bus -> outbox events published again
    kept: Counter[str] = field(default_factory=Counter)  # why -> messages left in the queue
    came_back: int = 0  # failed again during this run; left in the DLQ
    left: int = 0  # approximate number still in the queue at the end

    def lines(self) -> list[str]:
        lines = []
        for where, count in self.moved.items():
            line = f"moved {count} message(s) {self.queue} -> {where}"
            if where in self.events:
                line += f" ({self.events[where]} outbox event(s) published again)"
            lines.append(line)
        if not (self.moved or self.kept):
            lines.append(f"moved nothing: {self.queue} was empty")
        lines += [f"{count} message(s) left in {self.queue}: {why}" for why, count in self.kept.items()]
        if self.came_back:
            lines.append(f"{self.came_back} message(s) failed again and came back: is the consumer fixed?")
        lines.append(f"{self.queue} now holds about {self.left} message(s)")
        return lines


def _name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def find_queue(sqs: Any, name: str, stage: str) -> str:
    """The URL of the queue called ``name``, or of the one queue of ``stage`` whose name holds it
    (its name without the stage counts too)."""
    urls = []
    for page in sqs.get_paginator("list_queues").paginate():
        urls += page.get("QueueUrls", [])
    exact = [url for url in urls if _name(url) == name]
    if exact:
        return exact[0]
    # A part of the name, with or without the stage: "users-stream-failures" names
    # shop-users-dev-stream-failures (every service has a stream-failures queue).
    candidates = [
        url
        for url in urls
        if f"-{stage}-" in f"{_name(url)}-"
        and (name in _name(url) or name in _name(url).replace(f"-{stage}-", "-", 1))
    ]
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


def redrive(sqs: Any, queue: str, *, wait_seconds: int = 2, stacks: Stacks | None = None) -> Report:
    """Empty ``queue``: a dead-letter queue back to its source queues, a stream's on-failure queue
    onto the bus (``stacks``: the packaged templates, read only for an on-failure queue)."""
    sources = source_queues(sqs, queue)
    kind = DeadLetters(sqs, queue, sources) if sources else StreamFailures.of(sqs, queue, stacks or Stacks())
    report = Report(_name(queue))
    received: set[str] = set()  # ids of the messages handled in this run
    kept: list[dict[str, Any]] = []
    while messages := _receive(sqs, queue, wait_seconds):
        # Seen before: failed again and came back, or kept and visible again after VISIBILITY_SECONDS.
        again = [m for m in messages if m["MessageId"] in received or kind.returned(m)]
        fresh = [m for m in messages if m not in again]
        _release(sqs, queue, again)
        report.came_back += sum(map(kind.returned, again))
        received.update(m["MessageId"] for m in fresh)
        try:
            done, not_done = kind.handle(fresh, report)
        except RedriveError:
            _release(sqs, queue, fresh + kept)
            raise
        _delete(sqs, queue, done, report)
        kept += not_done
        if again:
            break
    _release(sqs, queue, kept)  # for the next run, not VISIBILITY_SECONDS from now
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=counts)["Attributes"]
    report.left = sum(int(attributes[name]) for name in counts)
    return report


Done = list[tuple[dict[str, Any], str]]  # messages handled, each with where it went


class DeadLetters:
    """A dead-letter queue: each message goes back to the queue it came from."""

    def __init__(self, sqs: Any, queue: str, sources: list[str]) -> None:
        self.sqs = sqs
        self.queue = queue
        self.source_by_arn = {_queue_arn(sqs, url): url for url in sources}
        # A message that comes back during this run is left for the next one: SQS keeps its id when
        # it moves it to the DLQ again; a consumer that dead-letters it itself sends the same body anew.
        self.resent: set[str] = set()  # ids and body digests of the messages moved in this run

    def returned(self, message: dict[str, Any]) -> bool:
        return message["MessageId"] in self.resent or _digest(message) in self.resent

    def handle(self, messages: list[dict[str, Any]], report: Report) -> tuple[Done, list[dict[str, Any]]]:
        done: Done = []
        refused = []
        for source, batch in _by_source(messages, self.source_by_arn, self.queue).items():
            sent = self.sqs.send_message_batch(
                QueueUrl=source,
                Entries=[_resend_entry(index, message) for index, message in enumerate(batch)],
            )
            moved = [batch[int(success["Id"])] for success in sent.get("Successful", [])]
            self.resent.update(success["MessageId"] for success in sent.get("Successful", []))
            self.resent.update(_digest(message) for message in moved)
            done += [(message, _name(source)) for message in moved]
            refused += [batch[int(failure["Id"])] for failure in sent.get("Failed", [])]
        if refused:
            report.kept["refused by the source queue"] += len(refused)
        return done, refused


class StreamFailures:
    """A stream's on-failure queue: each message points to a batch of records a stream consumer gave
    up on; the outbox events among them are published again."""

    def __init__(self, buses: dict[str, str | None], region: str) -> None:
        self.buses = buses  # function name -> its bus; None: not an outbox publisher
        self.streams = boto3.client("dynamodbstreams", region_name=region)
        self.events = boto3.client("events", region_name=region)

    @classmethod
    def of(cls, sqs: Any, queue: str, stacks: Stacks) -> StreamFailures:
        """From the stream mappings of the packaged templates whose on-failure destination is ``queue``."""
        buses = {
            mapping.function.name: mapping.function.environment.get("EVENT_BUS_NAME")
            for mapping in event_source_mappings(stacks, functions(stacks))
            if mapping.kind == "dynamodb" and (mapping.on_failure_arn or "").endswith(f":{_name(queue)}")
        }
        if not buses:
            raise RedriveError(
                f"{_name(queue)} is the dead-letter queue of no queue, nor a stream's on-failure destination"
                " in the packaged templates (of another stage? make package STAGE=<stage>)"
            )
        return cls(buses, sqs.meta.region_name)

    def returned(self, message: dict[str, Any]) -> bool:
        return False  # nothing is sent anywhere it could come back from

    def handle(self, messages: list[dict[str, Any]], report: Report) -> tuple[Done, list[dict[str, Any]]]:
        done: Done = []
        kept = []
        for message in messages:
            try:
                bus, published = self._republish(message)
            except _Kept as why:
                report.kept[str(why)] += 1
                kept.append(message)
                continue
            report.events[f"bus {bus}"] += published
            done.append((message, f"bus {bus}"))
        return done, kept

    def _republish(self, message: dict[str, Any]) -> tuple[str, int]:
        """Publish the outbox events of the batch ``message`` points to: (bus, events published)."""
        try:
            failure = json.loads(message["Body"])
            batch, function_arn = failure["DDBStreamBatchInfo"], failure["requestContext"]["functionArn"]
        except (ValueError, TypeError, KeyError):
            raise _Kept("not a stream batch's on-failure record") from None
        function = function_arn.split(":function:")[-1].split(":")[0]
        bus = self.buses.get(function)
        if bus is None:
            raise _Kept(f"a batch of {function}, not an outbox publisher: nothing to republish")
        records = _batch_records(self.streams, batch)
        entries = [entry for record in records if (entry := outbox_entry(record, bus)) is not None]
        try:
            EventPublisher(self.events, bus).put_entries(entries)
        except PublishError:
            raise _Kept("PutEvents did not take all its events: run again once the bus does") from None
        return bus, len(entries)


def _batch_records(streams: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a stream batch read back from the stream, its first sequence number to its last."""
    end = int(batch["endSequenceNumber"])
    records: list[dict[str, Any]] = []
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch["streamArn"],
            ShardId=batch["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch["startSequenceNumber"],
        )["ShardIterator"]
        empty_pages = 0
        while iterator and empty_pages < MAX_EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += [r for r in page["Records"] if int(r["dynamodb"]["SequenceNumber"]) <= end]
            if page["Records"] and int(page["Records"][-1]["dynamodb"]["SequenceNumber"]) >= end:
                return records
            empty_pages = 0 if page["Records"] else empty_pages + 1
            iterator = page.get("NextShardIterator")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _STREAM_GONE:
            raise _Kept(GONE) from None
        raise
    raise _Kept("the stream did not reach the batch's last record: run again")


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
    """Make received messages visible again now, not after ``VISIBILITY_SECONDS`` (the batch call
    only reports, without raising, one already visible again)."""
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, message in enumerate(messages[start : start + 10])
            ],
        )


def _delete(sqs: Any, queue_url: str, done: Done, report: Report) -> None:
    if not done:
        return
    deleted = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, (m, _) in enumerate(done)],
    )
    # A failed delete leaves a copy in the queue: at least once, never lost.
    for success in deleted.get("Successful", []):
        report.moved[done[int(success["Id"])][1]] += 1


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Move a dead-letter queue's messages back to their queue, or publish again the"
        " outbox events of the stream batches in an on-failure queue."
    )
    parser.add_argument("queue", help="the queue's name, or a part naming one queue of the stage")
    parser.add_argument("--stage", default="dev")
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    args = parser.parse_args(argv)
    # boto3 reads AWS_ENDPOINT_URL itself: set, it is the local stack; unset, AWS.
    sqs = boto3.client("sqs", region_name=args.region or DEFAULT_REGION)
    target = os.environ.get("AWS_ENDPOINT_URL") or f"AWS ({sqs.meta.region_name})"
    try:
        queue = find_queue(sqs, args.queue, args.stage)
        print(f"redriving {_name(queue)} on {target}")
        report = redrive(sqs, queue)
    # No credentials, no endpoint, no access, no packaged templates:
    except (RedriveError, TemplateError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 1 if report.kept or report.came_back else 0


if __name__ == "__main__":
    sys.exit(main())
