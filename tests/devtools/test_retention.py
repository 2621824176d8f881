"""What the local stack's AWS endpoint keeps for less long than AWS (``devtools.local.retention``):
the stream records every consumer has read, past the last few, the oldest finished executions, and
the receipt handles of messages deleted long ago; never a record a consumer has yet to read, nor a
running execution."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends
from moto.stepfunctions.parser.utils import TMP_THREADS

from devtools.local import retention
from devtools.local.retention import Retention
from devtools.template import Stacks

ORDERS_TABLE = "shop-orders-dev"
KEPT, SLACK = 10, 2


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "STREAM_RECORDS_KEPT", KEPT)
    monkeypatch.setattr(retention, "FINISHED_EXECUTIONS_KEPT", KEPT)
    monkeypatch.setattr(retention, "TRIM_SLACK", SLACK)
    monkeypatch.setattr(retention, "DELETED_HANDLES_KEPT", KEPT)


def _orders_stream(aws: Stacks, writes: int) -> tuple[Any, list[str], int]:
    """The orders table's stream shard after ``writes`` writes, its readers, and its first sequence number."""
    table = dynamodb_backends[aws.account][aws.region].get_table(ORDERS_TABLE)
    for n in range(writes):
        table.put_item({"PK": {"S": f"USER#{n}"}, "SK": {"S": "PROFILE"}})
    readers = sorted(Retention(aws).readers[ORDERS_TABLE])
    return table.stream_shard, readers, table.stream_shard.starting_sequence_number


def _records(aws: Stacks, **position: Any) -> list[int]:
    streams, dynamodb = boto3.client("dynamodbstreams"), boto3.client("dynamodb")
    stream_arn = dynamodb.describe_table(TableName=ORDERS_TABLE)["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"], **position)
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return [int(record["dynamodb"]["SequenceNumber"]) for record in records]


def test_a_stream_keeps_its_last_records_and_any_older_one_a_consumer_has_not_read(aws: Stacks) -> None:
    shard, readers, first = _orders_stream(aws, 30)
    assert readers  # the outbox's publisher reads it
    trim = Retention(aws).trim

    trim([])  # no consumer has a position yet: it reads from the first record
    trim([[reader, shard.id, str(first + 29)] for reader in readers[1:]])
    assert len(shard.items) == 30

    trim([[reader, shard.id, str(first + 14)] for reader in readers])  # all read 15 of 30
    assert _records(aws, ShardIteratorType="TRIM_HORIZON") == list(range(first + 15, first + 30))

    trim([[reader, shard.id, str(first + 29)] for reader in readers])
    assert _records(aws, ShardIteratorType="TRIM_HORIZON") == list(range(first + 20, first + 30))
    assert _records(aws, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=str(first + 29)) == []
    with pytest.raises(ClientError, match="TrimmedDataAccessException"):
        _records(aws, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=str(first + 19))


def test_a_trim_waits_for_more_than_a_few_records_past_keeping(aws: Stacks) -> None:
    shard, readers, first = _orders_stream(aws, KEPT + SLACK)
    trim = Retention(aws).trim

    trim([[reader, shard.id, str(first + KEPT + SLACK - 1)] for reader in readers])
    assert len(shard.items) == KEPT + SLACK

    shard.table.put_item({"PK": {"S": "USER#one-more"}, "SK": {"S": "PROFILE"}})
    trim([[reader, shard.id, str(first + KEPT + SLACK)] for reader in readers])
    assert len(shard.items) == KEPT


def _finished(states: Any, machine: str, count: int) -> list[str]:
    names = [f"done-{n}" for n in range(count)]
    for name in names:
        states.start_execution(stateMachineArn=machine, name=name, input="{}")
    arns = [f"{machine.replace(':stateMachine:', ':execution:')}:{name}" for name in names]
    deadline = time.monotonic() + 30
    while any(states.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in arns):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return names


def test_a_state_machine_keeps_its_running_executions_and_its_latest_finished_ones(aws: Stacks) -> None:
    states = boto3.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/states"

    def machine(name: str, state: dict[str, Any]) -> str:
        definition = {"StartAt": "only", "States": {"only": state | {"End": True}}}
        return states.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]

    quick, slow = machine("quick", {"Type": "Pass"}), machine("slow", {"Type": "Wait", "Seconds": 30})
    states.start_execution(stateMachineArn=slow, name="waiting", input="{}")
    names = _finished(states, quick, KEPT + SLACK + 3)
    assert any(not thread.is_alive() for thread in TMP_THREADS)  # moto's, kept for good

    Retention(aws).trim([])

    assert all(thread.is_alive() for thread in TMP_THREADS)

    kept = {e["name"] for e in states.list_executions(stateMachineArn=quick)["executions"]}
    assert kept == set(names[-KEPT:])
    assert [e["name"] for e in states.list_executions(stateMachineArn=slow)["executions"]] == ["waiting"]
    with pytest.raises(ClientError, match="ExecutionDoesNotExist"):
        states.describe_execution(executionArn=f"{quick.replace(':stateMachine:', ':execution:')}:done-0")


def test_a_queue_remembers_the_handles_of_its_last_deleted_messages(aws: Stacks) -> None:
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="shop-orders-dev-intake")["QueueUrl"]
    trim = Retention(aws).trim

    def deleted(count: int) -> list[str]:
        for n in range(count):
            sqs.send_message(QueueUrl=queue_url, MessageBody=str(n))
        handles = []
        while len(handles) < count:
            received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
            for message in received:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                handles.append(message["ReceiptHandle"])
        trim([])
        return handles

    first, second, third = deleted(KEPT), deleted(KEPT), deleted(KEPT // 2)

    for handle in second + third:  # at least the last KEPT: deleting them again succeeds
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=first[0])
