"""Fixes to moto that the project carries until they are released upstream; ``apply()`` installs them.

``DynamoDBBackend.transact_write_items`` (moto 5.2.5) deep-copies every table a transaction names,
once per item, before it writes anything, to restore it on failure: the cost of every transaction
grows with its tables (stream records included), and the local stack, where every write is a
transaction (the outbox), slowed and grew by gigabytes in minutes. The replacement below is moto's
method with that backup replaced by an undo journal: the prior version of each item the transaction
touches (one item copied, not a table) and the length of each stream shard, so that a cancelled
transaction puts those items back and drops the stream records it appended. It is written against
moto's own names so that it can be proposed upstream as it is.

``DynamoDBStreamsBackend`` (moto 5.2.5) keeps every shard iterator it ever handed out, in
``shard_iterators``, for good: each ``GetShardIterator`` and each ``GetRecords`` adds one (about 2 KB),
so a stream consumer polling a few times a second (the local stack's pollers, Lambda's) grows the
endpoint by megabytes a minute, idle or not. The replacements below hand out iterators that carry
their position in themselves, as AWS's opaque iterators do, so nothing is kept; one is valid for
15 minutes after it was handed out (AWS's rule: ``ExpiredIteratorException`` after that) and can be
read again until then. One whose position is before the shard's first record (the local stack's
retention drops records, ``devtools.local.retention``) gets ``TrimmedDataAccessException``, as on
AWS, where moto failed an assertion.

``StreamShard`` (moto 5.2.5) gives every stream the same shard id, that of every other table's
stream and of the stream it replaces when a table's stream is created again (another
``StreamViewType``), its sequence numbers starting where the last one's did: a consumer that keeps
its position per shard, as Lambda does, skipped the new stream's first records, and one reading two
tables' streams mixed them up. A shard gets an id of its own, shaped as AWS's.

``StreamRecord`` (moto 5.2.5) keeps each stream record as nested dicts of DynamoDB JSON, both images
of a ``NEW_AND_OLD_IMAGES`` record included: about 20 KB of Python objects for an order's 2 KB
record, and a stream holds thousands (AWS trims after 24 h). The record is kept as its JSON text
instead, and decoded when it is read: a tenth of the memory. (A record holding binary attributes,
which JSON does not, stays as moto keeps it.)

moto's SQS (5.2.5) passes over every message of a queue where none is needed, so a backlog made
every message cost more, and slowed its own draining:
- ``Queue.attributes`` builds every attribute of the queue, the three approximate counts included,
  each a pass over every message, to answer for one. ``ReceiveMessage`` read it three times per
  message returned, for the retention period (a batch of 10 from an intake queue 2,700 deep: 45%
  of the local stack's CPU); ``SendMessage`` read it for ``ContentBasedDeduplication`` (a FIFO
  queue's send three more times): a send to a queue 3,000 deep took 37 ms, against 0.5 ms at 30.
  Patched, ``Queue.attributes`` computes each attribute when it is read (0.02 ms a send at either
  depth).
- ``DeleteMessage`` makes two passes to find the message with the receipt handle, and
  ``ChangeMessageVisibility`` one. Patched, a receipt handle finds its message through an index
  kept as messages are received (and through moto's pass when the index does not place it in the
  queue: a queue restored from a save).
- Each pass reads the clock twice a message (``visible``, ``delayed``); patched, once a pass. A
  receive still makes moto's one pass over the queue for its visible messages.

``Table.query`` (moto 5.2.5) looks at every item of the table for each query, of the table or of a
global secondary index, and only then keeps those of the partition asked for: a query's cost grows
with the table (``GET /orders/{id}`` reads ``GSI1``). The replacement hands moto's query the
partition only: a table's partition by its hash key, and an index's from a map of each global
secondary index's hash key values to the keys of the items that have them, built by the index's
first query and kept up to date by every write after it. Moto still checks every item it is handed
as it did, so a key the map holds for an item whose index key has since changed is only a wasted
look (and is dropped from the map then).

``BaseModel`` (moto 5.2.5), the base of its models, appends every instance it ever creates to its
class's ``instances_tracked`` list, read only by moto's dashboard (``/moto-api/data.json``) and
emptied only by a reset: every item version, every copy moto makes of one (each query's results,
each update's old image), every SQS message, stream record, shard iterator and execution stays in
memory for the life of the process. In server mode that is most of the endpoint's memory, and it
grows with every request (about 100 KB an order through the local stack, four times the data
kept). The replacement lists them through weak references: the dashboard still lists every
instance something else holds, and nothing is kept alive for it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import moto
from moto.core.common_models import BaseModel
from moto.core.exceptions import JsonRESTError
from moto.core.utils import camelcase_to_underscores, unix_time_millis
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    ResourceNotFoundException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import GlobalSecondaryIndex, StreamRecord, StreamShard, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.moto_api._internal import mock_random
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.sqs.models import Message, Queue, SQSBackend

PATCHED_MOTO_VERSION = "5.2.5"


@dataclass
class _UndoJournal:
    """What a transaction must put back if it is cancelled."""

    prior_items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = field(default_factory=list)
    stream_lengths: dict[str, tuple[Table, int]] = field(default_factory=dict)

    def remember(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        if table.name not in self.stream_lengths and table.stream_shard is not None:
            self.stream_lengths[table.name] = (table, len(table.stream_shard.items))
        # Writes replace or mutate the stored Item, so the prior version is a copy of that one item.
        prior = copy.deepcopy(table.get_item(hash_key, range_key))
        self.prior_items.append((table, hash_key, range_key, prior))

    def roll_back(self) -> None:
        for table, hash_key, range_key, prior in reversed(self.prior_items):
            if range_key is None:
                if prior is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = prior
            elif prior is None:
                table.items[hash_key].pop(range_key, None)
                if not table.items[hash_key]:
                    del table.items[hash_key]
            else:
                table.items[hash_key][range_key] = prior
            _index_item(table, prior)  # back in the index partitions it left, if the transaction deleted it
        # A cancelled transaction writes no stream record.
        for table, length in self.stream_lengths.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = _UndoJournal()

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    # [(Code, Message, Item), ..]
    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                journal.remember(table, *self.get_keys_value(table, key))

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            # Rollback to the original state, and reraise the error
            journal.roll_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        # Rollback to the original state, and reraise the errors
        journal.roll_back()
        raise TransactionCanceledException(errors)


SHARD_ITERATOR_LIFETIME = 15 * 60  # seconds, as AWS documents for GetShardIterator


class ExpiredIteratorException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "ExpiredIteratorException", "The shard iterator has expired and can no longer be used."
        )


class TrimmedDataAccessException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "TrimmedDataAccessException",
            "The operation attempted to read past the oldest stream record in a shard.",
        )


def _positioned(iterator: ShardIterator) -> ShardIterator:
    """``iterator`` with an id that says where it is and when it was handed out (its ``arn`` then
    carries both), so that the backend need not keep it."""
    iterator.id = base64.urlsafe_b64encode(f"{iterator.sequence_number}:{time.time():.3f}".encode()).decode()
    return iterator


def get_shard_iterator(
    self: DynamoDBStreamsBackend,
    arn: str,
    shard_id: str,
    shard_iterator_type: str,
    sequence_number: str | None = None,
) -> ShardIterator:
    table = self._get_table_from_arn(arn)
    if table.stream_shard is None or table.stream_shard.id != shard_id:
        raise ResourceNotFoundException(f"Shard {shard_id} not found")
    return _positioned(
        ShardIterator(self, table.stream_shard, shard_iterator_type, sequence_number)  # type: ignore[arg-type]
    )


def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    try:
        sequence_number, handed_out = base64.urlsafe_b64decode(iterator_arn.rsplit("|", 1)[1]).split(b":")
        position, when = int(sequence_number), float(handed_out)
    except ValueError:
        raise MockValidationException("Invalid ShardIterator") from None
    if time.time() - when > SHARD_ITERATOR_LIFETIME:
        raise ExpiredIteratorException()
    shard: StreamShard = self._get_table_from_arn(iterator_arn).stream_shard  # type: ignore[assignment]
    if position < shard.starting_sequence_number:  # trimmed since (moto: an AssertionError)
        raise TrimmedDataAccessException()
    return ShardIterator(self, shard, "AT_SEQUENCE_NUMBER", position).get(limit)  # type: ignore[arg-type]


def shard_iterator_get(self: ShardIterator, limit: int = 1000) -> dict[str, Any]:
    items = self.stream_shard.get(self.sequence_number, limit)
    if items:
        last_sequence_number = max(int(i["dynamodb"]["SequenceNumber"]) for i in items)
        following = ShardIterator(
            self.streams_backend, self.stream_shard, "AFTER_SEQUENCE_NUMBER", last_sequence_number
        )
    else:
        following = ShardIterator(
            self.streams_backend, self.stream_shard, "AT_SEQUENCE_NUMBER", self.sequence_number
        )
    return {"NextShardIterator": _positioned(following).arn, "Records": items}


_moto_stream_shard_init = StreamShard.__init__


def stream_shard_init(self: StreamShard, account_id: str, table: Table) -> None:
    _moto_stream_shard_init(self, account_id, table)
    self.id = f"shardId-{int(time.time() * 1000):020d}-{mock_random.get_random_hex(8)}"  # as AWS's


_moto_stream_record_init = StreamRecord.__init__


def stream_record_init(self: StreamRecord, *args: Any, **kwargs: Any) -> None:
    _moto_stream_record_init(self, *args, **kwargs)
    record = self.record
    created = record["dynamodb"].pop("ApproximateCreationDateTime")
    try:
        self.encoded = json.dumps(record, separators=(",", ":"))
    except TypeError:  # not JSON: kept as moto keeps it
        record["dynamodb"]["ApproximateCreationDateTime"] = created
        return
    self.created = created
    del self.record


def stream_record_to_json(self: StreamRecord) -> dict[str, Any]:
    if "record" in vars(self):  # one that was not JSON, or restored from a snapshot taken without the patch
        return self.record
    record = json.loads(self.encoded)
    record["dynamodb"]["ApproximateCreationDateTime"] = self.created
    return record


def queue_messages(self: Queue) -> list[Message]:
    now = unix_time_millis()  # moto's Message.visible and .delayed read the clock, twice a message
    return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]


def approximate_number_of_messages_delayed(self: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def approximate_number_of_messages_not_visible(self: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in self._messages if now <= m.visible_at)


def _queue_attribute(queue: Queue, name: str) -> Any:
    """One attribute, as moto's ``Queue.attributes`` gives it."""
    value = getattr(queue, camelcase_to_underscores(name))
    if name == "RedrivePolicy" and value:
        value = json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else value


class QueueAttributes(Mapping[str, Any]):
    """``Queue.attributes``, each one computed when it is read: the approximate counts are a pass
    over the queue's messages each, and most readers want one attribute that is not a count."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            self._names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            self._names += queue.KMS_ATTRIBUTES

    def __contains__(self, name: object) -> bool:  # Mapping's would compute the value
        return name in self._names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return _queue_attribute(self._queue, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def queue_attributes(self: Queue) -> QueueAttributes:
    return QueueAttributes(self)


# Receipt handle -> the message that was given it, for every message alive; filled as messages are
# received. A handle it does not place in the queue (one restored from a save holds copies) is
# looked for as moto does.
_messages_by_receipt_handle: weakref.WeakValueDictionary[str, Message] = weakref.WeakValueDictionary()

_moto_mark_received = Message.mark_received


def message_mark_received(self: Message, visibility_timeout: int | None = None) -> None:
    _moto_mark_received(self, visibility_timeout)
    _messages_by_receipt_handle[self.receipt_handle] = self  # type: ignore[index]


def _message_with_receipt_handle(queue: Queue, receipt_handle: str) -> Message | None:
    message = _messages_by_receipt_handle.get(receipt_handle)
    if message is not None and message in queue._messages:  # models have no __eq__: a scan in C
        return message
    return next((m for m in queue._messages if m.had_receipt_handle(receipt_handle)), None)


def queue_delete_message(self: Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:  # already deleted: not an error
        return
    message = _message_with_receipt_handle(self, receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid()
    try:
        self._messages.remove(message)  # in place, atomic: moto's new list lost a concurrent send
    except ValueError:  # another request deleted it since the lookup: not an error, as above
        return
    self.pending_messages.discard(message)
    self.deleted_messages.update(message.all_receipt_handles)  # type: ignore[arg-type]


def change_message_visibility(
    self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
) -> None:
    queue = self.get_queue(queue_name)
    message = _message_with_receipt_handle(queue, receipt_handle)
    if message is None:
        raise ReceiptHandleIsInvalid
    visibility_timeout_msec = int(visibility_timeout) * 1000
    given_visibility_timeout = unix_time_millis() + visibility_timeout_msec
    if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:  # type: ignore[operator]
        raise InvalidParameterValue(
            f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
            "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        )
    message.change_visibility(visibility_timeout)
    if message.visible and message in queue.pending_messages:
        # If the message is visible again, remove it from pending messages.
        queue.pending_messages.remove(message)


TableKey = tuple[DynamoType, DynamoType | None]  # an item's hash and range key


@dataclass
class _IndexPartitions:
    """A global secondary index's partitions: its hash key values -> the table keys of the items
    that have them (and maybe of some that had them: a query checks)."""

    hash_attrs: tuple[str, ...]
    keys: dict[tuple[DynamoType, ...], set[TableKey]] = field(default_factory=dict)

    def values_of(self, item: Item) -> tuple[DynamoType, ...] | None:
        values = tuple(item.attrs.get(name) for name in self.hash_attrs)
        return None if any(value is None for value in values) else values  # type: ignore[return-value]

    def add(self, item: Item) -> None:
        if (values := self.values_of(item)) is not None:
            self.keys.setdefault(values, set()).add((item.hash_key, item.range_key))

    def discard(self, values: tuple[DynamoType, ...], key: TableKey) -> None:
        keys = self.keys.get(values)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.keys[values]


def _maintained_partitions(table: Table) -> dict[str, _IndexPartitions]:
    """The partitions of the indexes ``table`` has queried so far (none on a table restored from a
    snapshot taken without the patch)."""
    return vars(table).setdefault("_index_partitions", {})


def _index_partitions(table: Table, index: GlobalSecondaryIndex) -> _IndexPartitions:
    hash_attrs = tuple(key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH")
    maintained = _maintained_partitions(table)
    partitions = maintained.get(index.name)
    if partitions is None or partitions.hash_attrs != hash_attrs:  # a first query, or a redefined index
        partitions = maintained[index.name] = _IndexPartitions(hash_attrs)
        for item in table.all_items():
            partitions.add(item)
    return partitions


def _index_item(table: Table, item: Item | None) -> None:
    if item is not None:
        for partitions in _maintained_partitions(table).values():
            partitions.add(item)


class _Partition:
    """``table`` as one query sees it: only the items that may match its hash key."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table, self._items = table, items

    def all_items(self) -> list[Item]:
        return self._items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def _query_candidates(
    table: Table,
    hash_key: DynamoType | None,
    index_name: str | None,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
) -> list[Item] | None:
    """The items a query may return, or None where moto must look at them all (a local secondary
    index, an index the table does not have: moto answers those as it does)."""
    if index_name is None:
        # .get: items is a defaultdict, and a lookup would add the partition
        partition = table.items.get(hash_key) if hash_key is not None else None
        if partition is None:
            return []
        return list(partition.values()) if table.range_key_attr else [partition]  # type: ignore[list-item]
    index = next((i for i in table.global_indexes if i.name == index_name), None)
    conditions = dict(hash_key_conditions or ())
    if index is None:
        return None
    partitions = _index_partitions(table, index)
    if not set(partitions.hash_attrs) <= conditions.keys():
        return None
    values = tuple(conditions[name] for name in partitions.hash_attrs)
    candidates = []
    for key in tuple(partitions.keys.get(values, ())):
        item = table.get_item(*key) if key[0] in table.items else None
        if item is not None and partitions.values_of(item) == values:
            candidates.append(item)
        else:  # deleted, or its index key changed since
            partitions.discard(values, key)
    return candidates


_moto_query = Table.query


def query(
    self: Table,
    hash_key: DynamoType | None,
    *args: Any,
    hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
    **kwargs: Any,
) -> tuple[list[Item], int, dict[str, Any] | None]:
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    candidates = _query_candidates(self, hash_key, index_name, hash_key_conditions)
    table = self if candidates is None else _Partition(self, candidates)
    return _moto_query(table, hash_key, *args, hash_key_conditions=hash_key_conditions, **kwargs)  # type: ignore[arg-type,misc]


_moto_put_item = Table.put_item


def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
    item = _moto_put_item(self, *args, **kwargs)
    _index_item(self, item)
    return item


_moto_update_item = DynamoDBBackend.update_item


def update_item(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Item:
    item = _moto_update_item(self, table_name, *args, **kwargs)  # updates the stored item in place
    _index_item(self.get_table(table_name), item)
    return item


_moto_delete_item = Table.delete_item


def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    item = _moto_delete_item(self, hash_key, range_key)
    if item is not None:
        for partitions in _maintained_partitions(self).values():
            if (values := partitions.values_of(item)) is not None:
                partitions.discard(values, (item.hash_key, item.range_key))
    return item


class TrackedInstances:
    """A model class's ``instances_tracked``, as moto appends to it and its dashboard reads it, holding
    its instances through weak references."""

    def __init__(self, instances: Iterable[Any] = ()) -> None:
        self._instances: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        with contextlib.suppress(TypeError):  # a model with __slots__ and no __weakref__: not listed
            self._instances[id(instance)] = instance

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._instances.values()))

    def __len__(self) -> int:
        return len(self._instances)


def _tracked(cls: type) -> TrackedInstances:
    tracked = cls.__dict__.get("instances_tracked")
    if not isinstance(tracked, TrackedInstances):  # moto's list: at a class's creation, after a reset
        tracked = TrackedInstances(tracked or ())
        cls.instances_tracked = tracked  # type: ignore[attr-defined]
    return tracked


def base_model_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    instance = super(BaseModel, cls).__new__(cls)  # type: ignore[misc]
    _tracked(cls).append(instance)
    return instance


def _model_classes(root: type) -> Iterator[type]:
    for subclass in root.__subclasses__():
        yield subclass
        yield from _model_classes(subclass)


def apply() -> None:
    """Install the fixes; refuse a moto they were not written against (check upstream, then bump)."""
    if moto.__version__ != PATCHED_MOTO_VERSION:
        raise RuntimeError(
            f"devtools/emulator/moto_patches.py patches moto {PATCHED_MOTO_VERSION}, not {moto.__version__}: "
            "drop what the new release fixes and check the rest against its source"
        )
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    ShardIterator.get = shard_iterator_get  # type: ignore[method-assign]
    StreamShard.__init__ = stream_shard_init  # type: ignore[method-assign]
    StreamRecord.__init__ = stream_record_init  # type: ignore[method-assign]
    StreamRecord.to_json = stream_record_to_json  # type: ignore[method-assign]
    Queue.messages = property(queue_messages)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(approximate_number_of_messages_delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(approximate_number_of_messages_not_visible)  # type: ignore[method-assign,assignment]
    Queue.attributes = property(queue_attributes)  # type: ignore[method-assign,assignment]
    Message.mark_received = message_mark_received  # type: ignore[method-assign]
    Queue.delete_message = queue_delete_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    BaseModel.__new__ = staticmethod(base_model_new)  # type: ignore[method-assign,assignment]
    for model in _model_classes(BaseModel):  # the instances made so far: held weakly from now on
        _tracked(model)
