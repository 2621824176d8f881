"""What the AWS endpoint's process keeps for less long than AWS, so that its memory follows the work
and not the history of a long session (thousands of orders: each leaves seven stream records, of
about 4 KB each in memory, and a Step Functions execution of about 20 KB with its history).

- **Stream records**: a table's stream keeps its last ``STREAM_RECORDS_KEPT`` records (for a
  reader starting at ``TRIM_HORIZON``), and any older one a consumer of the stack (an event source
  mapping) has not yet read. AWS keeps them 24 hours. A record is dropped only once every
  consumer's position, as the stack's pollers last sent it, is past it: a consumer that fails, or
  one without a position yet, holds its stream's records, as it would on AWS (for 24 h).
  A reader asking for a dropped record gets ``TrimmedDataAccessException``, as on AWS.
- **Executions**: a state machine keeps its running executions and its latest
  ``FINISHED_EXECUTIONS_KEPT`` finished ones. AWS keeps them 90 days. An older one is gone
  (``ExecutionDoesNotExist``); the orders it ran keep their status in their table.
- **Deleted messages' receipt handles**: moto remembers every receipt handle of every message a
  queue deleted, so that deleting one again succeeds, as on AWS. A queue remembers at least its
  last ``DELETED_HANDLES_KEPT``; deleting a message again with an older handle is refused
  (``ReceiptHandleIsInvalid``).

And what moto keeps that AWS does not: moto's Step Functions append every thread they start (a few
per execution) to a list nothing reads (``TMP_THREADS``), for good; the finished ones are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamShard
from moto.sqs.models import Queue, sqs_backends
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.parser.utils import TMP_THREADS

from devtools.emulator.plumbing import event_source_mappings, functions
from devtools.template import Stacks

STREAM_RECORDS_KEPT = 1000  # per stream, the last ones, read or not
FINISHED_EXECUTIONS_KEPT = 1000  # per state machine
DELETED_HANDLES_KEPT = 1000  # per queue, at least: the receipt handles of the messages deleted last
TRIM_SLACK = 100  # records or executions past keeping before a trim: not a list's shift per write


def _backends(backend_dict: Any) -> Iterator[Any]:
    for regions in backend_dict.values():
        yield from regions.values()


class Retention:
    """Trims what is past keeping in the process's moto backends, as the stack's ``stacks`` define its
    consumers (``redefine`` after a reload)."""

    def __init__(self, stacks: Stacks) -> None:
        self.redefine(stacks)
        # queue (account, region, name) -> its deleted messages' handles at its last trim
        self._deleted_before: dict[tuple[str, str, str], set[str]] = {}

    def redefine(self, stacks: Stacks) -> None:
        self.readers: dict[str, set[str]] = {}  # table name -> the functions reading its stream
        for mapping in event_source_mappings(stacks, functions(stacks)):
            if mapping.kind == "dynamodb" and mapping.enabled:
                self.readers.setdefault(mapping.table_name, set()).add(mapping.function.name)

    def trim(self, stream_positions: list[list[str]]) -> None:
        """Drop what is past keeping; ``stream_positions`` as ``Plumbing.checkpoint`` gives them. The
        caller holds the locks that keep every request that may write, and every DynamoDB request,
        out meanwhile."""
        done = {(consumer, shard): int(sequence) for consumer, shard, sequence in stream_positions}
        for backend in _backends(dynamodb_backends):
            for table in backend.tables.values():
                if table.stream_shard is not None:
                    self._trim_stream(table.name, table.stream_shard, done)
        for backend in _backends(stepfunctions_parser_backends):
            for machine in backend.state_machines:
                finished = [e for e in machine.executions if e.exec_status != ExecutionStatus.RUNNING]
                if len(finished) > FINISHED_EXECUTIONS_KEPT + TRIM_SLACK:
                    dropped = {id(e) for e in finished[:-FINISHED_EXECUTIONS_KEPT]}
                    machine.executions[:] = [e for e in machine.executions if id(e) not in dropped]
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]
        for backend in _backends(sqs_backends):
            for name, queue in backend.queues.items():
                self._trim_deleted((backend.account_id, backend.region_name, name), queue)

    def _trim_deleted(self, key: tuple[str, str, str], queue: Queue) -> None:
        """Two generations: once ``DELETED_HANDLES_KEPT`` handles were added since the last trim,
        those the trim before saw are dropped (a set keeps no order to drop the oldest by)."""
        before = self._deleted_before.get(key, set())
        if len(queue.deleted_messages) - len(before) >= DELETED_HANDLES_KEPT:
            queue.deleted_messages -= before
            self._deleted_before[key] = set(queue.deleted_messages)

    def _trim_stream(self, table: str, shard: StreamShard, done: dict[tuple[str, str], int]) -> None:
        positions = [done.get((reader, shard.id)) for reader in self.readers.get(table, ())]
        if any(position is None for position in positions):  # a consumer that has read nothing yet
            return
        first, records = shard.starting_sequence_number, len(shard.items)
        read_by_all = min(positions, default=first + records - 1)  # type: ignore[type-var]
        cut = min(read_by_all + 1 - first, records - STREAM_RECORDS_KEPT)  # type: ignore[operator]
        if cut > TRIM_SLACK:
            del shard.items[:cut]
            shard.starting_sequence_number += cut
