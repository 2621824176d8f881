"""Queue and stream records as Lambda hands them to a function: made up from a message body, or
read from what waits in a queue or a table's stream on moto; and what waits in a dead-letter queue."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from devtools.emulator.plumbing import lambda_sqs_record, lambda_stream_record

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:shop-notifications-dev-events"


def sqs_record(body: str, *, receive_count: int = 1, queue_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """An SQS record carrying ``body``, as Lambda delivers it from a queue (no queue needed)."""
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1772355600000",
            "SenderId": "AIDAIE6VAXUQU2DKHA7DK",
            "ApproximateFirstReceiveTimestamp": "1772355600010",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum, not security
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def received_records(queue_url: str, queue_arn: str, region: str) -> list[dict[str, Any]]:
    """Receive what waits in a queue (one receive, up to 10; the messages stay in flight), as the
    records Lambda's event source mapping hands to the function."""
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
        .get("Messages", [])
    )
    return [lambda_sqs_record(message, queue_arn, region) for message in messages]


def stream_records(table_name: str) -> list[dict[str, Any]]:
    """Every record of a table's stream, from the start of each shard, as Lambda delivers them."""
    streams = boto3.client("dynamodbstreams")
    stream_arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return [lambda_stream_record(record, stream_arn) for record in records]


@dataclass(frozen=True)
class DeadLetter:
    body: str
    attributes: dict[str, str]  # message attributes: the rejection's reason, the original message id


def dead_letters(queue_url: str) -> list[DeadLetter]:
    """Receive (and delete) whatever waits in a dead-letter queue."""
    sqs = boto3.client("sqs")
    found = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        for message in messages:
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            found.append(DeadLetter(message["Body"], attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found
