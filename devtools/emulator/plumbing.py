"""What AWS does between the services, done in process: event source mappings and Step Functions
Lambda tasks, wired from the packaged templates to the real handlers.

- DynamoDB streams: every ``AWS::Lambda::EventSourceMapping`` on a table's stream gets the stream's
  new records (after its filter criteria) in batches, as Lambda delivers them. A failed batch, or the
  records after the lowest ``batchItemFailures`` entry, are delivered again until
  ``MaximumRetryAttempts``; then the batch is reported to the on-failure destination and skipped.
- SQS: every mapping on a queue receives its messages in batches; the records a handler reports as
  failed (or all of them, if it raises) become visible again after ``retry_delay`` seconds, so SQS
  (moto) moves them to the dead-letter queue after ``maxReceiveCount`` receives.
- EventBridge: rules route ``PutEvents`` to their SQS targets inside moto itself.
- Step Functions: moto executes the state machines; its Lambda tasks reach ``invoke`` of moto's
  Docker-less Lambda backend, which ``Plumbing.routing_state_machine_tasks()`` sends to the handler
  of the function with that name (``state_machine_task``; the local stack's AWS endpoint, in a
  process of its own, forwards those invocations to it over HTTP: ``devtools.local.invoke_api``).
  A handler's exception becomes the task's error (``errorType`` is the exception's class name, or
  Lambda's own such as ``Sandbox.Timedout``), so ``Retry`` and ``Catch`` work as deployed.

``drain()`` repeats all of this until nothing moves (no record, no message, no running execution).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.events.models import EventPattern

from devtools.emulator.lambda_runtime import FunctionError, FunctionSpec, functions
from devtools.template import Stacks, function_name_of

log = logging.getLogger("devtools.emulator.plumbing")

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
"""moto settings under which state machines run, their Lambda tasks reaching our handlers."""

LOCAL_STREAM_RETRY_CAP = 5  # Lambda retries a stream batch "forever" (-1); locally we stop somewhere.


@dataclass(frozen=True)
class Delivery:
    """One invocation of a consumer: what it got and how it ended."""

    function: str
    source: str  # "sqs" | "dynamodb" | "states"
    records: int
    failed: int
    error: str | None = None


@dataclass
class EventSourceMapping:
    function: FunctionSpec
    source_arn: str
    kind: str  # "sqs" | "dynamodb"
    batch_size: int
    report_item_failures: bool
    filters: list[EventPattern]
    max_retry_attempts: int
    on_failure_arn: str | None
    enabled: bool = True

    def accepts(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(pattern.matches_event(record) for pattern in self.filters)

    @property
    def table_name(self) -> str:
        """The table whose stream a ``dynamodb`` mapping reads."""
        return self.source_arn.split(":table/", 1)[1].split("/", 1)[0]


def event_source_mappings(stacks: Stacks, specs: dict[str, FunctionSpec]) -> list[EventSourceMapping]:
    found = []
    for service, template in stacks.templates.items():
        for _, raw in template.of_type("AWS::Lambda::EventSourceMapping"):
            props = stacks.resolve(service, raw)
            function_name = function_name_of(str(props["FunctionName"]))
            source_arn = props["EventSourceArn"]
            kind = "sqs" if source_arn.startswith("arn:aws:sqs:") else "dynamodb"
            retries = props.get("MaximumRetryAttempts", -1)
            found.append(
                EventSourceMapping(
                    function=specs[function_name],
                    source_arn=source_arn,
                    kind=kind,
                    batch_size=int(props.get("BatchSize", 10 if kind == "sqs" else 100)),
                    report_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    filters=[
                        EventPattern.load(f["Pattern"])
                        for f in props.get("FilterCriteria", {}).get("Filters", [])
                    ],
                    max_retry_attempts=LOCAL_STREAM_RETRY_CAP if int(retries) < 0 else int(retries),
                    on_failure_arn=props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
                    enabled=props.get("Enabled", True) not in (False, "false"),
                )
            )
    return found


def _lambda_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def lambda_stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream record (as ``GetRecords`` returns it to boto3) in the shape Lambda hands it
    to a function: JSON, epoch seconds where boto3 parsed datetimes, with ``eventSourceARN``."""
    return json.loads(json.dumps(record, default=_lambda_json)) | {"eventSourceARN": stream_arn}


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message (as ``ReceiveMessage`` returns it) in the shape Lambda hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _arrival(record: dict[str, Any]) -> str:
    """A record's creation time as an on-failure record writes it (``2024-05-04T10:00:00Z``)."""
    created = datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC)
    return created.strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_batch(mapping: EventSourceMapping, records: list[dict]) -> tuple[list[dict], list[dict]]:
    """The records the next invocation covers, and those of them it receives. Lambda filters before
    it batches: a batch holds up to ``batch_size`` records that pass the filter, however many it
    skipped on the way."""
    wanted = []
    for taken, record in enumerate(records, start=1):
        if mapping.accepts(record):
            wanted.append(record)
            if len(wanted) == mapping.batch_size:
                return records[:taken], wanted
    return records, wanted


@dataclass
class Plumbing:
    stacks: Stacks
    session: Any  # boto3.Session
    endpoint_url: str | None = None
    retry_delay: int = 0
    on_delivery: Callable[[Delivery], None] = lambda delivery: None
    # Where invocations go: by default the handler, imported into this process; the local stack
    # gives each function processes of its own (devtools.local.environments).
    invoker: Callable[[str, Any], Any] | None = None
    specs: dict[str, FunctionSpec] = field(init=False)
    mappings: list[EventSourceMapping] = field(init=False)

    # One handler at a time in this process: moto runs each execution's Lambda tasks in a thread of
    # its own, beside the deliveries of the calling thread, and moto in process is not thread-safe
    # (a scan beside a write of the same table fails with "dictionary changed size").
    lock: ClassVar[threading.RLock] = threading.RLock()

    def __post_init__(self) -> None:
        self._handlers: dict[str, Callable] = {}
        self.redefine(self.stacks)
        self._positions: dict[tuple[str, str], str] = {}  # (consumer, shard id) -> last sequence number done
        # (consumer, shard) -> (the sequence number it fails on, attempts): one entry per failing shard.
        self._stream_attempts: dict[tuple[str, str], tuple[str, int]] = {}
        self._clients: dict[str, Any] = {}
        self._stream_arns: dict[str, str | None] = {}  # table name -> its stream's ARN, as last described

    def redefine(self, stacks: Stacks) -> None:
        """Serve ``stacks`` from now on (a service packaged again); where each consumer stands in
        each stream stays."""
        self.stacks = stacks
        self.specs = functions(stacks)
        self.mappings = [m for m in event_source_mappings(stacks, self.specs) if m.enabled]
        self._handlers.clear()  # imported again, as the specs say now

    def client(self, name: str) -> Any:
        """One client per service, made once: making one costs more than most calls through it (a
        poller's rounds made three a round, a tenth of the stack's CPU under load)."""
        if name not in self._clients:
            self._clients[name] = self.session.client(
                name, region_name=self.stacks.region, endpoint_url=self.endpoint_url
            )
        return self._clients[name]

    def checkpoint(self) -> dict[str, Any]:
        """Where each consumer is in each stream: what a restart resumes from (``resume``). Safe to
        call beside a round of ``pump``: the positions are copied in one step."""
        positions = list(self._positions.items())
        return {"stream_positions": sorted([consumer, shard, done] for (consumer, shard), done in positions)}

    def resume(self, checkpoint: dict[str, Any]) -> None:
        self._positions.update(
            {(consumer, shard): done for consumer, shard, done in checkpoint["stream_positions"]}
        )

    # -- invoking ---------------------------------------------------------------------------------

    def handler(self, function_name: str) -> Callable:
        if function_name not in self._handlers:
            self._handlers[function_name] = self.specs[function_name].load()
        return self._handlers[function_name]

    def invoke(self, function_name: str, event: Any) -> Any:
        """Invoke a function's handler as Lambda would (exceptions propagate)."""
        if self.invoker is not None:
            return self.invoker(function_name, event)
        with self.lock:
            return self.handler(function_name)(event, self.specs[function_name].context())

    def _deliver(self, mapping: EventSourceMapping, records: list[dict]) -> set[str] | None:
        """Invoke with a batch; returns the failed item identifiers, or None when everything failed."""
        name = mapping.function.name
        try:
            response = self.invoke(name, {"Records": records})
        except Exception as error:
            # A function in a process of its own printed its trace there.
            trace = str(error) if isinstance(error, FunctionError) else traceback.format_exc()
            log.error("%s failed on a batch of %d:\n%s", name, len(records), trace)
            self.on_delivery(Delivery(name, mapping.kind, len(records), len(records), repr(error)))
            return None
        failed = set()
        if mapping.report_item_failures and isinstance(response, dict):
            failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures") or []}
        self.on_delivery(Delivery(name, mapping.kind, len(records), len(failed)))
        return failed

    # -- DynamoDB streams -------------------------------------------------------------------------

    def _stream(self, table_name: str) -> tuple[str, list[dict]] | None:
        """The table's stream (its ARN and its shards), None if it has none. The ARN is kept from
        round to round: describing a table costs moto a count of its items (a round's cost grew
        with the table), describing a stream does not. A stream disabled or created again (another
        label) is looked up again."""
        streams = self.client("dynamodbstreams")
        if (stream_arn := self._stream_arns.get(table_name)) is not None:
            with suppress(streams.exceptions.ResourceNotFoundException):
                stream = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]
                current = stream_arn.endswith(f"/stream/{stream['StreamLabel']}")
                if current and stream["StreamStatus"] == "ENABLED":
                    return stream_arn, stream["Shards"]
        table = self.client("dynamodb").describe_table(TableName=table_name)["Table"]
        self._stream_arns[table_name] = stream_arn = table.get("LatestStreamArn")
        if stream_arn is None:
            return None
        return stream_arn, streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]

    def _new_stream_records(
        self, stream_arn: str, shards: list[dict], consumer: str
    ) -> Iterator[tuple[str, list[dict]]]:
        streams = self.client("dynamodbstreams")
        for shard in shards:
            shard_id = shard["ShardId"]
            after = self._positions.get((consumer, shard_id))
            request = {"StreamArn": stream_arn, "ShardId": shard_id}
            if after:
                request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
            else:
                request.update(ShardIteratorType="TRIM_HORIZON")
            iterator = streams.get_shard_iterator(**request)["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
            if records:
                yield shard_id, records

    def deliver_streams(self) -> int:
        delivered = 0
        for mapping in (m for m in self.mappings if m.kind == "dynamodb"):
            if (stream := self._stream(mapping.table_name)) is None:
                continue
            stream_arn, shards = stream
            for shard_id, raw_records in self._new_stream_records(stream_arn, shards, mapping.function.name):
                records = [lambda_stream_record(r, stream_arn) for r in raw_records]
                delivered += self._deliver_stream_records(mapping, stream_arn, shard_id, records)
        return delivered

    def _deliver_stream_records(
        self, mapping: EventSourceMapping, stream_arn: str, shard_id: str, records: list[dict]
    ) -> int:
        # Positions are kept per consumer: two consumers of one stream each read every record.
        key = (mapping.function.name, shard_id)
        delivered = 0
        while records:
            batch, wanted = _next_batch(mapping, records)
            records = records[len(batch) :]
            failed = self._deliver(mapping, wanted) if wanted else set()
            delivered += len(wanted)
            if failed == set():
                self._positions[key] = batch[-1]["dynamodb"]["SequenceNumber"]
                self._stream_attempts.pop(key, None)
                continue
            # Lambda resumes from the lowest failed record (everything, when the handler raised).
            sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in wanted]
            reported = [s for s in sequence_numbers if failed is not None and s in failed]
            first_failed = min(reported or sequence_numbers, key=int)
            done = [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) < int(first_failed)]
            if done:
                self._positions[key] = done[-1]["dynamodb"]["SequenceNumber"]
            failing, attempts = self._stream_attempts.get(key, (first_failed, 0))
            attempts = attempts + 1 if failing == first_failed else 1
            self._stream_attempts[key] = (first_failed, attempts)
            if attempts > mapping.max_retry_attempts:
                self._give_up_on_stream_batch(mapping, stream_arn, shard_id, wanted)
                self._positions[key] = batch[-1]["dynamodb"]["SequenceNumber"]
                del self._stream_attempts[key]
            break  # the rest waits for the next round, as a shard is processed in order
        return delivered

    def _give_up_on_stream_batch(
        self, mapping: EventSourceMapping, stream_arn: str, shard_id: str, batch: list[dict]
    ) -> None:
        log.error("%s: retries exhausted for a stream batch of %d", mapping.function.name, len(batch))
        if not mapping.on_failure_arn:
            return
        # What Lambda sends to an on-failure destination for a stream: where the batch is, not the data.
        self.client("sqs").send_message(
            QueueUrl=self._queue_url(mapping.on_failure_arn),
            MessageBody=json.dumps(
                {
                    "requestContext": {
                        "functionArn": self.stacks.arn(mapping.function.service, mapping.function.logical_id),
                        "condition": "RetryAttemptsExhausted",
                    },
                    "DDBStreamBatchInfo": {
                        "shardId": shard_id,
                        "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                        "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                        "approximateArrivalOfFirstRecord": _arrival(batch[0]),
                        "approximateArrivalOfLastRecord": _arrival(batch[-1]),
                        "batchSize": len(batch),
                        "streamArn": stream_arn,
                    },
                }
            ),
        )

    # -- SQS --------------------------------------------------------------------------------------

    def _queue_url(self, queue_arn: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]

    def deliver_queues(self) -> int:
        sqs = self.client("sqs")
        delivered = 0
        for mapping in (m for m in self.mappings if m.kind == "sqs"):
            queue_url = self._queue_url(mapping.source_arn)
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(mapping.batch_size, 10),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                continue
            records = [
                lambda_sqs_record(message, mapping.source_arn, self.stacks.region) for message in messages
            ]
            failed = self._deliver(mapping, records)
            delivered += len(records)
            for message in messages:
                if failed is None or message["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self.retry_delay,
                    )
                else:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return delivered

    # -- Step Functions ---------------------------------------------------------------------------

    def state_machine_task(self, function_name: str, event: Any) -> tuple[bytes, bool]:
        """A state machine's Lambda task: the function invoked with ``event``, answered as Lambda's
        Invoke API answers (the result's JSON, or the error's with ``errorType``), and whether it
        is a function error (``X-Amz-Function-Error``)."""

        def task_error(error_type: str, message: str, stack_trace: list[str]) -> tuple[bytes, bool]:
            log.info("%s raised %s (a state machine task error)", function_name, error_type)
            self.on_delivery(Delivery(function_name, "states", 1, 1, f"{error_type}: {message}"))
            payload = {"errorType": error_type, "errorMessage": message, "stackTrace": stack_trace}
            return json.dumps(payload).encode(), True

        try:
            result = self.invoke(function_name, event)
        except FunctionError as error:  # raised in the function's own process
            return task_error(error.error_type, error.message, error.stack_trace)
        except Exception as error:
            return task_error(type(error).__name__, str(error), traceback.format_tb(error.__traceback__))
        self.on_delivery(Delivery(function_name, "states", 1, 0))
        return json.dumps(result, default=str).encode(), False

    @contextmanager
    def routing_state_machine_tasks(self) -> Iterator[None]:
        """While active, moto's Lambda tasks in this process run the real handlers (see the module
        docstring)."""
        plumbing = self
        original = LambdaSimpleBackend.invoke

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ):
            name = function_name_of(function_name)
            if name not in plumbing.specs:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload, failed = plumbing.state_machine_task(name, json.loads(body) if body else {})
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            return payload

        LambdaSimpleBackend.invoke = invoke
        try:
            yield
        finally:
            LambdaSimpleBackend.invoke = original

    def running_executions(self) -> int:
        states = self.client("stepfunctions")
        running = 0
        for machine in states.list_state_machines()["stateMachines"]:
            executions = states.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )
            running += len(executions["executions"])
        return running

    # -- all of it --------------------------------------------------------------------------------

    def pump(self) -> int:
        """One round: deliver what is waiting in every stream and queue; returns the records delivered."""
        return self.deliver_streams() + self.deliver_queues()

    def drain(self, *, timeout: float = 30.0, poll: float = 0.05) -> int:
        """Deliver until no record, no message and no running execution is left."""
        deadline = time.monotonic() + timeout
        total = 0
        while True:
            # Executions are counted before the pump: one that ends during it may have written
            # records this pump did not see, so only a quiet pump after a quiet count is the end.
            running = self.running_executions()
            moved = self.pump()
            total += moved
            if not moved and not running:
                return total
            if time.monotonic() > deadline:
                raise TimeoutError(f"still busy after {timeout} s ({total} records delivered)")
            if not moved:
                time.sleep(poll)
