"""moto's transactions, as the project patches them: all or nothing, in items and in stream records,
at a cost that does not grow with the table; and no reader of the local endpoint sees one half done.
moto's stream shard iterators, as patched: nothing kept per iterator, each valid 15 minutes."""

from __future__ import annotations

import gc
import importlib.util
import json
import pickle
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.model_instances import reset_model_data
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodbstreams.models import dynamodbstreams_backends
from moto.sqs.models import Queue, sqs_backends

from devtools.emulator.plumbing import MOTO_CONFIG
from devtools.local import aws_endpoint
from devtools.template import Stacks

TABLE = "patched"


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def _stream_records(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]


def _put(pk: str, **attributes: str) -> dict[str, Any]:
    return {
        "Put": {"TableName": TABLE, "Item": {"PK": {"S": pk}} | {k: {"S": v} for k, v in attributes.items()}}
    }


def _must_not_exist(pk: str) -> dict[str, Any]:
    return {"Put": _put(pk)["Put"] | {"ConditionExpression": "attribute_not_exists(PK)"}}


@pytest.fixture
def dynamodb() -> Iterator[tuple[Any, Any, str]]:
    with mock_aws():
        client = boto3.client("dynamodb")
        _create_table(client)
        stream_arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        yield client, boto3.client("dynamodbstreams"), stream_arn


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(dynamodb: tuple[Any, Any, str]) -> None:
    client, streams, stream_arn = dynamodb
    client.put_item(TableName=TABLE, Item={"PK": {"S": "kept"}, "v": {"S": "1"}})
    client.put_item(TableName=TABLE, Item={"PK": {"S": "taken"}})
    before = _stream_records(streams, stream_arn)

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                _put("new"),
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "kept"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "2"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "taken"}}}},
                {
                    "ConditionCheck": {  # refused, after the three writes are applied
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "nobody"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )

    items = {item["PK"]["S"]: item for item in client.scan(TableName=TABLE)["Items"]}
    assert set(items) == {"kept", "taken"}
    assert items["kept"]["v"] == {"S": "1"}
    assert _stream_records(streams, stream_arn) == before


def test_a_committed_transaction_writes_one_stream_record_per_write(dynamodb: tuple[Any, Any, str]) -> None:
    client, streams, stream_arn = dynamodb

    client.transact_write_items(TransactItems=[_must_not_exist("a"), _must_not_exist("b")])

    records = _stream_records(streams, stream_arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records] == [
        ("INSERT", "a"),
        ("INSERT", "b"),
    ]
    # Sequence numbers go on from where a cancelled transaction left them, without a gap.
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[_must_not_exist("c"), _must_not_exist("a")])
    client.transact_write_items(TransactItems=[_must_not_exist("c")])
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in _stream_records(streams, stream_arn)]
    assert numbers == list(range(numbers[0], numbers[0] + 3))


def _transaction_seconds(client: Any, pk: str) -> float:
    """The quickest of three two-item transactions (noise on a shared machine only adds time)."""
    best = float("inf")
    for attempt in range(3):
        started = time.perf_counter()
        client.transact_write_items(TransactItems=[_put(f"{pk}-{attempt}-1"), _put(f"{pk}-{attempt}-2")])
        best = min(best, time.perf_counter() - started)
    return best


def test_a_transaction_costs_the_same_on_a_table_of_10_000_items(dynamodb: tuple[Any, Any, str]) -> None:
    client, _, _ = dynamodb
    small = _transaction_seconds(client, "small")
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(TABLE)
    for n in range(10_000):  # stored directly: through the API this would take a minute
        table.put_item({"PK": {"S": f"filler-{n}"}, "payload": {"S": "x" * 100}})

    large = _transaction_seconds(client, "large")

    # moto 5.2.5 copied the table (items and stream) per item: about a second here, 100x the small one.
    assert large < small * 3 + 0.01


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_no_reader_of_the_endpoint_sees_a_record_of_a_cancelled_transaction() -> None:
    port = _free_port()
    server = aws_endpoint.start(Stacks(services=()), "127.0.0.1", port, MOTO_CONFIG)
    try:
        session = boto3.Session()
        client = session.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}")
        streams = session.client("dynamodbstreams", endpoint_url=f"http://127.0.0.1:{port}")
        _create_table(client)
        client.put_item(TableName=TABLE, Item={"PK": {"S": "taken"}})
        stream_arn = client.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        committed = len(_stream_records(streams, stream_arn))
        stop = threading.Event()

        def refused_transactions() -> None:
            writer = session.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}")
            n = 0
            while not stop.is_set():
                n += 1
                # Applied item by item, the 99 puts are in the table (and its stream) until the
                # last item is refused; long enough for an unserialised reader to see them.
                items = [_put(f"phantom-{n}-{i}") for i in range(99)] + [_must_not_exist("taken")]
                with pytest.raises(ClientError, match="TransactionCanceled"):
                    writer.transact_write_items(TransactItems=items)

        writers = [threading.Thread(target=refused_transactions) for _ in range(2)]
        for writer in writers:
            writer.start()
        seen = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            seen += _stream_records(streams, stream_arn)[committed:]
        stop.set()
        for writer in writers:
            writer.join()

        assert seen == []
    finally:
        server.shutdown()


def _streams_backend() -> Any:
    return dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_polling_a_stream_keeps_no_shard_iterator(dynamodb: tuple[Any, Any, str]) -> None:
    client, streams, stream_arn = dynamodb
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    request = {"StreamArn": stream_arn, "ShardId": shard["ShardId"]}
    for n in range(50):  # a consumer's rounds: a new iterator after the last record read, then GetRecords
        client.put_item(TableName=TABLE, Item={"PK": {"S": f"item-{n}"}})
        iterator = streams.get_shard_iterator(**request, ShardIteratorType="LATEST")["ShardIterator"]
        streams.get_records(ShardIterator=iterator)

    # moto 5.2.5 kept both iterators of each round, for good: 100 here, about 2 KB each.
    assert _streams_backend().shard_iterators == {}


def test_an_iterator_carries_its_position_and_can_be_read_again(dynamodb: tuple[Any, Any, str]) -> None:
    client, streams, stream_arn = dynamodb
    for pk in "abc":
        client.put_item(TableName=TABLE, Item={"PK": {"S": pk}})
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    first = streams.get_records(ShardIterator=iterator, Limit=2)
    again = streams.get_records(ShardIterator=iterator, Limit=2)
    rest = streams.get_records(ShardIterator=first["NextShardIterator"])
    client.put_item(TableName=TABLE, Item={"PK": {"S": "d"}})
    later = streams.get_records(ShardIterator=rest["NextShardIterator"])
    after = streams.get_shard_iterator(
        StreamArn=stream_arn,
        ShardId=shard["ShardId"],
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        SequenceNumber=first["Records"][0]["dynamodb"]["SequenceNumber"],
    )["ShardIterator"]

    def keys(response: dict[str, Any]) -> list[str]:
        return [record["dynamodb"]["Keys"]["PK"]["S"] for record in response["Records"]]

    assert (keys(first), keys(again), keys(rest), keys(later)) == (["a", "b"], ["a", "b"], ["c"], ["d"])
    assert keys(streams.get_records(ShardIterator=after)) == ["b", "c", "d"]


def test_an_iterator_expires_15_minutes_after_it_was_handed_out(
    dynamodb: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, streams, stream_arn = dynamodb
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    handed_out = time.time()
    monkeypatch.setattr(time, "time", lambda: handed_out + 14 * 60)
    streams.get_records(ShardIterator=iterator)
    monkeypatch.setattr(time, "time", lambda: handed_out + 16 * 60)

    with pytest.raises(ClientError) as refused:
        streams.get_records(ShardIterator=iterator)

    assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"


def _deep_size(value: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``value`` and of every object it holds, each counted once."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple):
        size += sum(_deep_size(v, seen) for v in value)
    elif hasattr(value, "__dict__"):
        size += _deep_size(vars(value), seen)
    return size


def test_a_stream_record_is_read_back_as_written_and_held_as_its_json_text(
    dynamodb: tuple[Any, Any, str],
) -> None:
    client, streams, stream_arn = dynamodb
    history = {
        "L": [{"M": {"status": {"S": "PENDING"}, "at": {"S": f"2026-12-07T10:00:0{n}"}}} for n in range(9)]
    }
    item = {"PK": {"S": "order"}, "total": {"N": "12.50"}, "paid": {"BOOL": True}, "history": history}
    client.put_item(TableName=TABLE, Item=item)
    client.put_item(TableName=TABLE, Item=item | {"paid": {"BOOL": False}, "blob": {"B": b"\x00\xff"}})

    inserted, modified = _stream_records(streams, stream_arn)

    assert (inserted["eventName"], modified["eventName"]) == ("INSERT", "MODIFY")
    assert inserted["dynamodb"]["NewImage"] == item
    assert modified["dynamodb"]["OldImage"] == item
    assert modified["dynamodb"]["NewImage"] == item | {"paid": {"BOOL": False}, "blob": {"B": b"\x00\xff"}}
    assert modified["dynamodb"]["ApproximateCreationDateTime"].year >= 2026
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(TABLE).stream_shard
    record = shard.items[0]  # the other holds bytes, which JSON does not: kept as moto keeps it
    as_json = len(json.dumps(record.to_json(), default=str))
    # moto 5.2.5 held it as nested dicts: about 10x its JSON text.
    assert _deep_size(record) < 1.5 * as_json


def _receive_seconds(sqs: Any, queue_url: str) -> float:
    """The quickest of three receives of 10 messages."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]) == 10
        best = min(best, time.perf_counter() - started)
    return best


def test_a_receive_from_a_queue_3_000_deep_makes_one_pass_over_it() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        shallow = sqs.create_queue(QueueName="shallow")["QueueUrl"]
        deep = sqs.create_queue(QueueName="deep")["QueueUrl"]
        backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        for name, count in (("shallow", 30), ("deep", 3000)):
            for n in range(count):  # sent directly: through the API this would take a minute
                backend.send_message(name, f"message {n}")

        small, large = _receive_seconds(sqs, shallow), _receive_seconds(sqs, deep)

    # A receive still makes moto's one pass over the queue for its visible messages; moto 5.2.5 made
    # about thirty more (every attribute, three times per message received): some 1,000x here.
    assert large < small * 15 + 0.05


class _CountedPasses(list[Any]):
    """A queue's messages, counting the passes Python code makes over them."""

    passes = 0

    def __iter__(self) -> Iterator[Any]:
        self.passes += 1
        return super().__iter__()


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _deep_queue(sqs: Any, name: str, depth: int = 300, **attributes: str) -> tuple[str, _CountedPasses]:
    """A queue ``depth`` deep, its messages counting the passes over them."""
    queue_url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    for n in range(depth):
        backend.send_message(
            name,
            f"message {n}",
            group_id="g" if name.endswith(".fifo") else None,
            deduplication_id=f"d{n}" if name.endswith(".fifo") else None,
        )
    queue = backend.get_queue(name)
    queue._messages = counted = _CountedPasses(queue._messages)
    return queue_url, counted


@pytest.mark.parametrize("name", ["standard", "ordered.fifo"])
def test_a_send_a_delete_and_a_visibility_change_make_no_pass_over_the_queue(sqs: Any, name: str) -> None:
    fifo = name.endswith(".fifo")
    queue_url, messages = _deep_queue(sqs, name, **({"FifoQueue": "true"} if fifo else {}))
    [first, second] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=2)["Messages"]
    messages.passes = 0

    group = {"MessageGroupId": "h", "MessageDeduplicationId": "new"} if fifo else {}
    sqs.send_message(QueueUrl=queue_url, MessageBody="one more", **group)
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )

    # moto 5.2.5: three passes to send (every attribute, to read ContentBasedDeduplication; a FIFO
    # queue's send builds them three more times), two to delete, one to change the visibility.
    # A FIFO send still looks for a duplicate of its deduplication id, as moto does.
    assert messages.passes == (1 if fifo else 0)
    messages.passes = 0
    assert len(sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=3)["Messages"]) == 3
    # moto's one pass for the visible messages; 5.2.5 made three more per message returned (every
    # attribute, to read the retention period).
    assert messages.passes == 1
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "297",  # 300 sent, 1 more, 1 deleted, 1 visible again, 3 received
        "3",
    )


def moto_queue_attributes(queue: Queue) -> dict[str, Any]:
    """``queue.attributes`` as moto's own ``Queue`` builds them: from a copy of its module loaded
    apart, since the suite's is patched."""
    spec = importlib.util.find_spec("moto.sqs.models")
    assert spec is not None
    assert spec.loader is not None
    unpatched = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unpatched)
    return unpatched.Queue.attributes.fget(queue)  # type: ignore[no-any-return]


def test_a_queue_s_attributes_read_as_moto_builds_them(sqs: Any) -> None:
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName="dead.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:*"}],
    }
    sqs.create_queue(
        QueueName="everything.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "KmsMasterKeyId": "alias/aws/sqs",
            "Policy": json.dumps(policy),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
            "DelaySeconds": "0",
        },
    )
    sqs.create_queue(QueueName="plain")
    backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    for name in ("everything.fifo", "plain", "dead.fifo"):
        queue = backend.get_queue(name)
        expected = moto_queue_attributes(queue)
        assert dict(queue.attributes) == expected
        every_name = [*Queue.BASE_ATTRIBUTES, *Queue.FIFO_ATTRIBUTES, *Queue.KMS_ATTRIBUTES, "Nope"]
        assert [n for n in every_name if n in queue.attributes] == [n for n in every_name if n in expected]
    assert backend.get_queue("everything.fifo").attributes["ContentBasedDeduplication"] == "true"
    assert "KmsMasterKeyId" not in backend.get_queue("plain").attributes


def test_a_receipt_handle_the_index_never_saw_still_finds_its_message(sqs: Any) -> None:
    """A message restored from a save is a new object, received before the restart."""
    queue_url = sqs.create_queue(QueueName="restored")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=2, VisibilityTimeout=60)[
        "Messages"
    ]
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_queue("restored")
    queue._messages = pickle.loads(pickle.dumps(queue._messages))  # noqa: S301 - its own bytes
    queue._pending_messages = set()

    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received[0]["ReceiptHandle"])
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=received[1]["ReceiptHandle"], VisibilityTimeout=0
    )

    [again] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=2)["Messages"]
    assert again["Body"] == received[1]["Body"]


def test_a_receipt_handle_of_another_queue_or_none_is_refused_and_a_second_delete_is_not(sqs: Any) -> None:
    here, there = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("here", "there"))
    sqs.send_message(QueueUrl=there, MessageBody="elsewhere")
    [message] = sqs.receive_message(QueueUrl=there)["Messages"]

    for handle in (message["ReceiptHandle"], "not-a-handle"):
        with pytest.raises(ClientError) as refused:
            sqs.delete_message(QueueUrl=here, ReceiptHandle=handle)
        assert refused.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
        with pytest.raises(ClientError) as refused:
            sqs.change_message_visibility(QueueUrl=here, ReceiptHandle=handle, VisibilityTimeout=0)
        assert refused.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    sqs.delete_message(QueueUrl=there, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=there, ReceiptHandle=message["ReceiptHandle"])  # as AWS: no error
    assert "Messages" not in sqs.receive_message(QueueUrl=there)


class _DeletedRightAfterTheLookup(list[Any]):
    """A queue's messages, where another request's delete of the same message lands between this
    one's lookup of its receipt handle and its removal."""

    def __contains__(self, message: object) -> bool:
        found = super().__contains__(message)
        if found:
            super().remove(message)
        return found


def test_two_deletes_of_one_message_at_once_both_succeed(sqs: Any) -> None:
    queue_url = sqs.create_queue(QueueName="twice")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="once")
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_queue("twice")
    queue._messages = _DeletedRightAfterTheLookup(queue._messages)

    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])  # as AWS: no error

    assert list(queue._messages) == []


INDEXED = "indexed"


@pytest.fixture
def indexed() -> Iterator[Any]:
    """A table shaped as the services' are: PK and SK, and GSI1 on GSI1PK and GSI1SK."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=INDEXED,
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI1",
                    "KeySchema": [
                        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _indexed_item(pk: str, sk: str, gsi1pk: str | None = None, gsi1sk: str = "S") -> dict[str, Any]:
    item = {"PK": {"S": pk}, "SK": {"S": sk}}
    return item | ({"GSI1PK": {"S": gsi1pk}, "GSI1SK": {"S": gsi1sk}} if gsi1pk else {})


def _by_index(client: Any, gsi1pk: str) -> list[tuple[str, str]]:
    items = client.query(
        TableName=INDEXED,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": gsi1pk}},
    )["Items"]
    return [(item["PK"]["S"], item["SK"]["S"]) for item in items]


def _by_partition(client: Any, pk: str) -> list[str]:
    items = client.query(
        TableName=INDEXED, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": pk}}
    )["Items"]
    return [item["SK"]["S"] for item in items]


def test_an_index_query_follows_every_write_after_the_first(indexed: Any) -> None:
    client = indexed
    client.put_item(TableName=INDEXED, Item=_indexed_item("U#1", "O#1", "ORDER#1"))
    assert _by_index(client, "ORDER#1") == [("U#1", "O#1")]  # the index's first query

    client.put_item(TableName=INDEXED, Item=_indexed_item("U#2", "O#2", "ORDER#2"))
    client.put_item(TableName=INDEXED, Item=_indexed_item("U#2", "O#3"))  # in no partition of the index
    client.update_item(  # moves O#1 from ORDER#1 to ORDER#2, in place
        TableName=INDEXED,
        Key={"PK": {"S": "U#1"}, "SK": {"S": "O#1"}},
        UpdateExpression="SET GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "ORDER#2"}},
    )
    client.update_item(  # gives O#3 a place in the index
        TableName=INDEXED,
        Key={"PK": {"S": "U#2"}, "SK": {"S": "O#3"}},
        UpdateExpression="SET GSI1PK = :pk, GSI1SK = :sk",
        ExpressionAttributeValues={":pk": {"S": "ORDER#3"}, ":sk": {"S": "S"}},
    )
    assert _by_index(client, "ORDER#1") == []
    assert _by_index(client, "ORDER#2") == [("U#1", "O#1"), ("U#2", "O#2")]
    assert _by_index(client, "ORDER#3") == [("U#2", "O#3")]

    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": INDEXED, "Item": _indexed_item("U#3", "O#4", "ORDER#3")}},
            {"Delete": {"TableName": INDEXED, "Key": {"PK": {"S": "U#2"}, "SK": {"S": "O#2"}}}},
        ]
    )
    assert _by_index(client, "ORDER#2") == [("U#1", "O#1")]
    assert _by_index(client, "ORDER#3") == [("U#2", "O#3"), ("U#3", "O#4")]

    with pytest.raises(ClientError, match="TransactionCanceled"):  # deletes O#3, then is cancelled
        client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": INDEXED, "Key": {"PK": {"S": "U#2"}, "SK": {"S": "O#3"}}}},
                {
                    "ConditionCheck": {
                        "TableName": INDEXED,
                        "Key": {"PK": {"S": "U#1"}, "SK": {"S": "O#1"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    assert _by_index(client, "ORDER#3") == [("U#2", "O#3"), ("U#3", "O#4")]
    assert _by_partition(client, "U#2") == ["O#3"]
    assert _by_partition(client, "U#9") == []


def test_a_table_restored_from_a_pickle_answers_its_index_queries(indexed: Any) -> None:
    client = indexed
    client.put_item(TableName=INDEXED, Item=_indexed_item("U#1", "O#1", "ORDER#1"))
    assert _by_index(client, "ORDER#1") == [("U#1", "O#1")]
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.tables[INDEXED] = pickle.loads(pickle.dumps(backend.tables[INDEXED]))  # noqa: S301 - its own bytes

    client.put_item(TableName=INDEXED, Item=_indexed_item("U#2", "O#2", "ORDER#1"))

    assert _by_index(client, "ORDER#1") == [("U#1", "O#1"), ("U#2", "O#2")]


def _query_seconds(client: Any) -> float:
    """The quickest of three queries, one of the index and one of the table."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        assert _by_index(client, "ORDER#0") == [("U#0", "O#0")]
        assert _by_partition(client, "U#0") == ["O#0"]
        best = min(best, time.perf_counter() - started)
    return best


def test_a_query_costs_the_same_on_a_table_of_10_000_items(indexed: Any) -> None:
    client = indexed
    client.put_item(TableName=INDEXED, Item=_indexed_item("U#0", "O#0", "ORDER#0"))
    small = _query_seconds(client)
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(INDEXED)
    for n in range(1, 10_000):  # stored directly: through the API this would take a minute
        table.put_item(_indexed_item(f"U#{n}", f"O#{n}", f"ORDER#{n}"))

    large = _query_seconds(client)

    # moto 5.2.5 looked at every item of the table for either query: about 100x the small one here.
    assert large < small * 3 + 0.01


def test_moto_keeps_no_instance_alive_for_its_dashboard(indexed: Any) -> None:
    client = indexed
    reset_model_data()  # as moto's reset does: every class's list made anew
    client.put_item(TableName=INDEXED, Item=_indexed_item("U#1", "O#1", "ORDER#1"))
    for _ in range(50):  # each query, and each update, copies the item
        assert _by_index(client, "ORDER#1") == [("U#1", "O#1")]
        client.update_item(
            TableName=INDEXED,
            Key={"PK": {"S": "U#1"}, "SK": {"S": "O#1"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
    gc.collect()

    live = [o for o in gc.get_objects() if type(o) is Item]
    # moto 5.2.5 held every one of them (about 150 here) in Item.instances_tracked, for good.
    assert len(live) == 1
    assert list(Item.instances_tracked) == live  # what its dashboard lists: what is alive
