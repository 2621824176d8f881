"""Fixes to moto that the project carries until they are released upstream; ``apply()`` installs them.

``DynamoDBBackend.transact_write_items`` (moto 5.2.5) deep-copies every table a transaction names,
once per item, before it writes anything, to restore it on failure: the cost of every transaction
grows with its tables (stream records included), and the local stack, where every write is a
transaction (the outbox), slowed and grew by gigabytes in minutes. The replacement below is moto's
method with that backup replaced by an undo journal: the prior version of each item the transaction
touches (one item copied, not a table) and the length of each stream shard, so that a cancelled
transaction puts those items back and drops the stream records it appended. It is written against
moto's own names so that it can be proposed upstream as it is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import moto
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

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


def apply() -> None:
    """Install the fixes; refuse a moto they were not written against (check upstream, then bump)."""
    if moto.__version__ != PATCHED_MOTO_VERSION:
        raise RuntimeError(
            f"devtools/emulator/moto_patches.py patches moto {PATCHED_MOTO_VERSION}, not {moto.__version__}: "
            "drop what the new release fixes and check the rest against its source"
        )
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
