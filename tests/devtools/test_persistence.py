"""Snapshots of the local AWS endpoint (moto in server mode, as the local stack runs it): what a
restart gets back, what it refuses to load, and that a save cut short leaves the last one whole."""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.base_backend import BackendDict

from devtools.emulator.plumbing import MOTO_CONFIG
from devtools.local import aws_endpoint, persistence
from devtools.local.persistence import SNAPSHOT_FILE, ChangeTracker, InterruptedExecution, Snapshots
from devtools.template import Stacks
from tests.devtools.test_moto_patches import TABLE, _create_table, _stream_records
from tests.e2e.local_stack import free_port, wait_until

QUEUE = "kept-queue"
ROLE = "arn:aws:iam::123456789012:role/states"
PLUMBING = {"stream_positions": [["consumer", "shardId-1", "1100000000017454423009"]]}


@pytest.fixture
def aws() -> Iterator[tuple[Callable[[str], Any], ChangeTracker]]:
    """Clients of a fresh endpoint, and its change tracker; every backend emptied after."""
    BackendDict.reset()
    tracker, port = ChangeTracker(), free_port()
    server = aws_endpoint.start(Stacks(services=()), "127.0.0.1", port, MOTO_CONFIG, tracker)
    session = boto3.Session()
    try:
        yield lambda name: session.client(name, endpoint_url=f"http://127.0.0.1:{port}"), tracker
    finally:
        server.shutdown()
        BackendDict.reset()


def _snapshots(tmp_path: Path, tracker: ChangeTracker) -> Snapshots:
    return Snapshots(tmp_path / SNAPSHOT_FILE, tracker, lambda: PLUMBING)


def _item(dynamodb: Any, pk: str) -> dict[str, Any] | None:
    return dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": pk}}).get("Item")


def test_a_restart_gets_the_items_stream_records_messages_and_plumbing_back(aws, tmp_path: Path) -> None:
    client, tracker = aws
    dynamodb, streams, sqs = client("dynamodb"), client("dynamodbstreams"), client("sqs")
    _create_table(dynamodb)
    stream_arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}, "n": {"N": "1"}})
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="waiting")
    records = _stream_records(streams, stream_arn)
    assert _snapshots(tmp_path, tracker).save()

    BackendDict.reset()  # what a new process starts with
    assert dynamodb.list_tables()["TableNames"] == []
    restored = _snapshots(tmp_path, tracker).restore()

    assert restored is not None
    assert restored.plumbing == PLUMBING
    assert restored.interrupted == []
    assert _item(dynamodb, "a") == {"PK": {"S": "a"}, "n": {"N": "1"}}
    assert _stream_records(streams, stream_arn) == records
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert message["Body"] == "waiting"
    # The queue's lock came back as a new one: it still serves a send and a long poll.
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    sqs.send_message(QueueUrl=queue_url, MessageBody="after")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]] == [
        "after"
    ]
    # Writes go on where they were: the stream's sequence numbers follow the restored ones.
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "b"}})
    after = _stream_records(streams, stream_arn)
    assert int(after[-1]["dynamodb"]["SequenceNumber"]) == int(records[-1]["dynamodb"]["SequenceNumber"]) + 1


def test_a_snapshot_is_written_only_when_something_changed(aws, tmp_path: Path) -> None:
    client, tracker = aws
    dynamodb = client("dynamodb")
    _create_table(dynamodb)
    snapshots = _snapshots(tmp_path, tracker)
    assert snapshots.save()

    _item(dynamodb, "a")
    assert not snapshots.save()  # a read changes nothing

    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}})
    assert snapshots.save()


def test_a_save_cut_short_leaves_the_previous_snapshot_whole(aws, tmp_path: Path, monkeypatch) -> None:
    client, tracker = aws
    dynamodb = client("dynamodb")
    _create_table(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}})
    assert _snapshots(tmp_path, tracker).save()
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "b"}})

    def cut_short(_: int) -> None:
        raise KeyboardInterrupt  # what a second Ctrl-C raises in the middle of a write

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", cut_short)
        with pytest.raises(KeyboardInterrupt):
            _snapshots(tmp_path, tracker).save()
    assert len(list(tmp_path.glob(f".{SNAPSHOT_FILE}-*"))) == 1  # the half-written draft

    BackendDict.reset()
    assert _snapshots(tmp_path, tracker).restore() is not None

    assert _item(dynamodb, "a") is not None
    assert _item(dynamodb, "b") is None
    assert list(tmp_path.glob(f".{SNAPSHOT_FILE}-*")) == []  # the draft removed at restore


def _pickling_slowly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every snapshot takes 5 s more to pickle (in a background save, in its child process)."""
    pickling = persistence._pickled

    def slowly(payload: Any) -> bytes:
        time.sleep(5)
        return pickling(payload)

    monkeypatch.setattr(persistence, "_pickled", slowly)


def _saving_in_background(snapshots: Snapshots) -> threading.Thread:
    """A background save under way: its child forked, the snapshot not yet written."""
    saving = threading.Thread(target=snapshots.save, kwargs={"in_background": True})
    saving.start()
    wait_until(lambda: list(snapshots.path.parent.glob(f".{SNAPSHOT_FILE}-*")), 10, "the child's draft")
    return saving


def test_a_background_save_holds_the_writes_only_while_it_forks(aws, tmp_path: Path, monkeypatch) -> None:
    client, tracker = aws
    dynamodb = client("dynamodb")
    _create_table(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}})
    _pickling_slowly(monkeypatch)
    saving = _saving_in_background(_snapshots(tmp_path, tracker))

    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "b"}})

    assert saving.is_alive()  # the write was answered while the snapshot was being pickled
    saving.join()
    BackendDict.reset()
    assert _snapshots(tmp_path, tracker).restore() is not None
    assert _item(dynamodb, "a") is not None
    assert _item(dynamodb, "b") is None  # the snapshot holds the data as it was at the fork


def test_a_background_saves_child_holds_no_file_but_its_draft(aws, tmp_path: Path, monkeypatch) -> None:
    """Not the AWS endpoint's listening socket, say: the port would stay taken after a stop."""
    client, tracker = aws
    _create_table(client("dynamodb"))
    _pickling_slowly(monkeypatch)
    with socket.create_server(("127.0.0.1", 0)):
        saving = _saving_in_background(_snapshots(tmp_path, tracker))

        def child_writing() -> list[list[str]]:  # the draft is made before the fork
            return [
                files
                for files in map(_open_files, _children())
                if any(f".{SNAPSHOT_FILE}-" in f for f in files)
            ]

        def sockets_held() -> list[str] | None:  # None until the child writes; it closes them at once
            return next(([f for f in files if f.startswith("socket:")] for files in child_writing()), None)

        # Well within the 5 s the child takes to pickle, holding whatever it kept.
        wait_until(lambda: sockets_held() == [], 3, "the child writing the draft, without a socket")
    saving.join()


def test_a_background_saves_child_pickles_only_on_a_core_left_idle(aws, tmp_path: Path, monkeypatch) -> None:
    """Its pickling (seconds of a core at thousands of orders) must not slow the requests down."""
    client, tracker = aws
    _create_table(client("dynamodb"))
    policy = tmp_path / "policy"
    pickling = persistence._pickled

    def noting_its_policy(payload: Any) -> bytes:  # runs in the child
        policy.write_text(str(os.sched_getscheduler(0)))
        return pickling(payload)

    monkeypatch.setattr(persistence, "_pickled", noting_its_policy)
    assert _snapshots(tmp_path, tracker).save(in_background=True)
    assert int(policy.read_text()) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # this process's own left as it was


def test_saves_take_at_most_their_share_of_the_time(aws, tmp_path: Path, monkeypatch) -> None:
    """A save that took s seconds (a large data set) is followed by none for 9 s x s, however quiet
    the changes are: saving must not take a core of its own as the data grows."""
    client, tracker = aws
    dynamodb = client("dynamodb")
    _create_table(dynamodb)
    snapshots = _snapshots(tmp_path, tracker)
    pickling = persistence._pickled
    took = 0.3

    def slowly(payload: Any) -> bytes:
        time.sleep(took)
        return pickling(payload)

    monkeypatch.setattr(persistence, "_pickled", slowly)
    monkeypatch.setattr(persistence, "SAVE_AFTER_QUIET", 0.0)
    saved = lambda: snapshots.path.stat().st_mtime_ns if snapshots.path.exists() else None  # noqa: E731
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}})
    snapshots.save_if_due()
    first, after_first = saved(), time.monotonic()
    assert first is not None

    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "b"}})
    snapshots.save_if_due()
    assert saved() == first  # due (quiet), but within 9x the last save's time
    wait_until(lambda: snapshots.save_if_due() or saved() != first, 30, "the next save")
    assert time.monotonic() - after_first >= took * (1 / persistence.SAVING_SHARE - 1)


def _children() -> list[int]:
    """This process's children (the fourth field of /proc/<pid>/stat is the parent's pid)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            found.append(int(entry))
    return found


def _open_files(pid: int) -> list[str]:
    try:
        return [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:  # it ended meanwhile
        return []


def test_a_save_at_stop_stops_a_background_save_and_writes_everything(
    aws, tmp_path: Path, monkeypatch
) -> None:
    client, tracker = aws
    dynamodb = client("dynamodb")
    _create_table(dynamodb)
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "a"}})
    snapshots = _snapshots(tmp_path, tracker)
    _pickling_slowly(monkeypatch)
    saving = _saving_in_background(snapshots)
    dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": "b"}})
    monkeypatch.undo()

    assert snapshots.save()

    saving.join()
    assert list(tmp_path.glob(f".{SNAPSHOT_FILE}-*")) == []  # the stopped child's draft removed
    BackendDict.reset()
    assert _snapshots(tmp_path, tracker).restore() is not None
    assert _item(dynamodb, "a") is not None
    assert _item(dynamodb, "b") is not None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            pickle.dumps({"format": 1, "moto": "4.0.0", "saved_at": "2026-01-01T00:00:00+00:00"}),
            "saved by moto 4.0.0",
        ),
        (pickle.dumps({"format": 0}), "not a snapshot of format 1"),
        (b"not a snapshot", "invalid load key"),
    ],
    ids=["another-moto-version", "another-format", "corrupt"],
)
def test_a_snapshot_that_cannot_be_used_is_moved_aside(
    aws, tmp_path: Path, content: bytes, reason: str, caplog
) -> None:
    _, tracker = aws
    (tmp_path / SNAPSHOT_FILE).write_bytes(content)

    with caplog.at_level(logging.WARNING, "devtools.local.persistence"):
        assert _snapshots(tmp_path, tracker).restore() is None

    [aside] = tmp_path.glob(f"{SNAPSHOT_FILE}.unusable-*")
    assert aside.read_bytes() == content
    assert not (tmp_path / SNAPSHOT_FILE).exists()
    assert f"could not restore {tmp_path / SNAPSHOT_FILE}" in caplog.text
    assert f"moved to {aside}; starting empty" in caplog.text
    assert reason in caplog.text


def _state_machine(states: Any, name: str, state: dict[str, Any]) -> str:
    definition = {"StartAt": "Only", "States": {"Only": state | {"End": True}}}
    return states.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def test_finished_executions_are_kept_and_running_ones_come_back_as_interrupted(aws, tmp_path: Path) -> None:
    client, tracker = aws
    states = client("stepfunctions")
    quick = _state_machine(states, "quick", {"Type": "Pass"})
    slow = _state_machine(states, "slow", {"Type": "Wait", "Seconds": 30})
    states.start_execution(stateMachineArn=quick, name="done", input='{"n": 1}')
    states.start_execution(stateMachineArn=slow, name="waiting", input='{"n": 2}')

    def finished() -> bool:
        return states.list_executions(stateMachineArn=quick)["executions"][0]["status"] == "SUCCEEDED"

    wait_until(finished, 10, "the quick execution to finish")
    assert _snapshots(tmp_path, tracker).save()

    BackendDict.reset()
    restored = _snapshots(tmp_path, tracker).restore()

    assert restored is not None
    assert restored.interrupted == [InterruptedExecution(slow, "waiting", '{"n": 2}')]
    [done] = states.list_executions(stateMachineArn=quick)["executions"]
    assert (done["name"], done["status"]) == ("done", "SUCCEEDED")
    assert json.loads(states.describe_execution(executionArn=done["executionArn"])["output"]) == {"n": 1}
    assert states.list_executions(stateMachineArn=slow)["executions"] == []
