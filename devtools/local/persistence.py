"""The local stack's AWS data across restarts: moto's in-memory backends pickled to a file of the
state directory (``.local-stack/aws-state.pickle``), restored at the next start.

- **What is kept**: every table and item (with its stream records), queue and message, bus, rule,
  archive, state machine and finished execution, SES identity and sent message (the backends of
  ``BACKENDS``), and the plumbing's position in each stream, so that a restart neither replays
  the events already published nor skips those still waiting.
- **Never half-written**: a snapshot is pickled whole, written to a temporary file and renamed
  over the previous one; a process cut short while writing leaves the previous snapshot intact.
- **Consistent**: ``ChangeTracker`` (around the AWS endpoint's application) runs the requests that
  may change data one at a time and counts them; a snapshot is taken between two of them, so it
  never holds half a transaction, and only when something changed.
- **Off the writes' path**: the periodic saves (``save_if_due``) are pickled and written by a child
  process forked between two writes, so the writes wait for the fork, not for the pickling, whose
  cost grows with the data. The child runs only on a core nothing else wants (``SCHED_IDLE``), and
  the saves take at most ``SAVING_SHARE`` of the time: saving does not slow the requests down as
  the data grows.
- **Checked before it is loaded**: the file starts with a header naming its format and the moto
  version that wrote it. A snapshot of another moto version, or one that does not load, is moved
  aside (``<file>.unusable-<time>``) with a log line saying why, and the stack starts empty.
- **Running executions are not resumed**: their threads cannot be pickled. A state machine
  execution still running when the snapshot was taken is kept as an ``InterruptedExecution`` (its
  state machine, name and input), which the stack starts again, from its first state and under
  the same name, once the handlers are reachable (``Restored.interrupted``).
"""

from __future__ import annotations

import contextlib
import copyreg
import importlib
import io
import logging
import os
import pickle
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import moto
from moto.core.base_backend import BackendDict, backend_lock
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution import Execution, SyncExecution

log = logging.getLogger("devtools.local.persistence")

SNAPSHOT_FILE = "aws-state.pickle"
FORMAT = 1  # bumped when the payload's layout changes
# The moto backends (module, attribute) holding what the packaged templates and the services use.
BACKENDS = (
    ("moto.dynamodb.models", "dynamodb_backends"),
    ("moto.sqs.models", "sqs_backends"),
    ("moto.events.models", "events_backends"),
    ("moto.stepfunctions.parser.models", "stepfunctions_parser_backends"),
    ("moto.ses.models", "ses_backends"),
    ("moto.sesv2.models", "sesv2_backends"),
)
# Requests that change nothing moto keeps, by the action's name (the JSON protocols' X-Amz-Target).
# ReceiveMessage changes a message's receive count and visibility, but may wait for messages (long
# polling) and must not hold the others up: it is the one request a snapshot may race (``_pickled``
# tries again), and a message received but not yet deleted is received again after a restart.
_READ_ACTIONS = ("Describe", "Get", "List", "Query", "Scan", "BatchGet", "ReceiveMessage")
# Lambda invocations (moto's Step Functions tasks) run a handler whose own AWS calls come back to
# this endpoint: they must not hold the lock those calls take.
_LAMBDA_INVOKE = "/2015-03-31/functions/"
SAVE_AFTER_QUIET = 1.0  # seconds without a change before a snapshot is taken
SAVE_AT_LEAST_EVERY = 10.0  # seconds: under constant writes, a snapshot at least this often
# At most this share of the time spent saving: after a save that took s seconds (thousands of
# orders), none for (1 / SAVING_SHARE - 1) x s. A save's cost grows with the data; the writes' must not.
SAVING_SHARE = 0.1
_ATTEMPTS = 3


class UnusableSnapshot(Exception):
    """The snapshot cannot be restored: another moto version, another format, or not a snapshot."""


@dataclass(frozen=True)
class InterruptedExecution:
    """A state machine execution that was running when the snapshot was taken."""

    state_machine_arn: str
    name: str
    input: str


@dataclass(frozen=True)
class Restored:
    saved_at: datetime
    plumbing: dict[str, Any]  # what ``Snapshots.checkpoint`` returned when it was saved
    interrupted: list[InterruptedExecution]


class ChangeTracker:
    """Counts the AWS endpoint's requests that may change data, which ``wrap`` runs one at a time:
    a snapshot is taken under ``lock``, between two of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changes = 0
        self.last_change = time.monotonic()

    def wrap(self, app: Callable) -> Callable:
        """``app`` (a WSGI application) with its changes counted and run one at a time."""

        def tracked(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
            action = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
            if (
                action.startswith(_READ_ACTIONS)
                or environ.get("REQUEST_METHOD") in ("GET", "HEAD")
                or environ.get("PATH_INFO", "").startswith(_LAMBDA_INVOKE)
            ):
                return app(environ, start_response)
            with self.lock:
                try:
                    # moto's responses are lists, built before they are returned: nothing runs after.
                    return list(app(environ, start_response))
                finally:
                    self.changes += 1
                    self.last_change = time.monotonic()

        return tracked


def _backend_dicts() -> dict[str, BackendDict]:
    return {
        f"{module}.{attribute}": getattr(importlib.import_module(module), attribute)
        for module, attribute in BACKENDS
    }


def _execution(execution: Execution) -> tuple:
    if execution.exec_status == ExecutionStatus.RUNNING:
        return InterruptedExecution, (execution.state_machine_arn, execution.name, execution.execution_input)
    return execution.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


# Locks become new ones, released (moto's SQS queues hold a ``threading.Condition`` over an RLock,
# finished executions the locks of their worker); a running execution becomes an
# ``InterruptedExecution``.
_DISPATCH = copyreg.dispatch_table.copy() | {
    type(threading.Lock()): lambda _: (threading.Lock, ()),
    type(threading.RLock()): lambda _: (threading.RLock, ()),
    Execution: _execution,
    SyncExecution: _execution,
}


def _pickled(payload: Any) -> bytes:
    for attempt in range(1, _ATTEMPTS + 1):
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _DISPATCH
        try:
            pickler.dump(payload)
        except RuntimeError:  # "changed size during iteration": a ReceiveMessage or an execution ran beside
            if attempt == _ATTEMPTS:
                raise
            continue
        return buffer.getvalue()
    raise AssertionError("unreachable")


def _take_interrupted(backends: dict[str, dict]) -> list[InterruptedExecution]:
    """The interrupted executions of restored Step Functions backends, taken out of their lists."""
    interrupted = []
    for accounts in backends.values():
        for regions in accounts.values():
            for backend in regions.values():
                for machine in getattr(backend, "state_machines", []):
                    for execution in list(machine.executions):
                        if isinstance(execution, InterruptedExecution):
                            machine.executions.remove(execution)
                            interrupted.append(execution)
    return interrupted


class Snapshots:
    """Saving moto's data to ``path`` and restoring it; ``checkpoint`` gives what the plumbing must
    keep alongside (its stream positions), saved with the same snapshot."""

    def __init__(self, path: Path, tracker: ChangeTracker, checkpoint: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.tracker = tracker
        self.checkpoint = checkpoint
        self._saving = threading.Lock()
        self._saved: tuple[int, dict[str, Any]] | None = None  # (changes, checkpoint) last saved
        self._saved_when = time.monotonic()
        self._took = 0.0  # seconds the last background save took, fork to written
        self._child: int | None = None  # the process writing a snapshot in the background

    def discard(self) -> None:
        """Start empty: the snapshot is deleted, so that a stop before the next save keeps nothing."""
        self.path.unlink(missing_ok=True)

    def restore(self) -> Restored | None:
        """Load the snapshot into moto's backends; None when there is none or it cannot be used (then
        moved aside, and said so)."""
        for leftover in self.path.parent.glob(f".{self.path.name}-*"):
            leftover.unlink()  # a temporary file of a save cut short
        if not self.path.exists():
            return None
        try:
            header, payload = self._read()
        except Exception as error:  # any failure to load means: start empty, keep the file for a look
            aside = self.path.with_name(f"{self.path.name}.unusable-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            os.replace(self.path, aside)
            log.warning("could not restore %s (%s): moved to %s; starting empty", self.path, error, aside)
            return None
        interrupted = _take_interrupted(payload["backends"])
        with backend_lock:
            for key, live in _backend_dicts().items():
                live.clear()
                live.update(payload["backends"].get(key, {}))
                if live not in BackendDict._instances:  # so that moto's reset empties it, as its own
                    BackendDict._instances.append(live)
        self._saved = (self.tracker.changes, payload["plumbing"])
        return Restored(datetime.fromisoformat(header["saved_at"]), payload["plumbing"], interrupted)

    def _read(self) -> tuple[dict[str, Any], dict[str, Any]]:
        with self.path.open("rb") as file:
            header = pickle.load(file)  # noqa: S301 - the stack's own file, in its state directory
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise UnusableSnapshot(f"not a snapshot of format {FORMAT}")
            if header.get("moto") != moto.__version__:
                raise UnusableSnapshot(f"saved by moto {header.get('moto')}, this is moto {moto.__version__}")
            return header, pickle.load(file)  # noqa: S301

    def save(self, *, in_background: bool = False) -> bool:
        """Write a snapshot if anything changed since the last; True if one was written.

        ``in_background``: the snapshot is pickled and written by a child process forked while the
        writes are held (a copy-on-write image of this process, made in milliseconds), so writes
        wait for the fork only, not for a pickling whose cost grows with the data (seconds for a
        few thousand orders). A save in the foreground (at stop) stops such a child first."""
        if not in_background and (child := self._child) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)  # its draft is removed below, or at the next start
        with self._saving:
            began = time.monotonic()
            plumbing = self.checkpoint()
            with self.tracker.lock:
                changes = self.tracker.changes
                if self._saved == (changes, plumbing):
                    return False
                payload = {"backends": {key: dict(live) for key, live in _backend_dicts().items()}}
                payload["plumbing"] = plumbing
                if in_background:
                    child, draft = self._fork_writer(payload)
                else:
                    data = _encoded(payload)
            if in_background:
                written = self._written_by(child, draft)
                self._took = time.monotonic() - began
                if not written:
                    return False
            else:
                draft = self._draft(data)
            os.replace(draft, self.path)
            self._saved, self._saved_when = (changes, plumbing), time.monotonic()
            return True

    def _fork_writer(self, payload: dict[str, Any]) -> tuple[int, str]:
        """A child process writing ``payload`` to a draft file, and the draft's name. The child
        only pickles and writes, taking no lock another thread could have held at the fork (the
        locks it pickles are replaced, never acquired), and never returns into this code."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}-", delete=False
        ) as draft:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded ... fork()": see above
                child = os.fork()
            if child == 0:
                code = 1
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)  # not the stack's handlers
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    # Its pickling (seconds of a core at thousands of orders) on a core the requests
                    # leave idle, never ahead of them.
                    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
                    # Its copies of the parent's sockets (the endpoint's listening port, clients'
                    # connections) closed: a port or a connection must not outlive its owner's stop.
                    os.closerange(3, draft.fileno())
                    os.closerange(draft.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
                    draft.write(_encoded(payload))
                    draft.flush()
                    os.fsync(draft.fileno())
                    code = 0
                finally:
                    os._exit(code)
        self._child = child
        return child, draft.name

    def _written_by(self, child: int, draft: str) -> bool:
        try:
            _, status = os.waitpid(child, 0)
        finally:
            self._child = None
        if os.waitstatus_to_exitcode(status) == 0:
            return True
        Path(draft).unlink(missing_ok=True)
        return False

    def save_if_due(self) -> None:
        """Save (in the background) once the changes have been quiet for ``SAVE_AFTER_QUIET``, or
        ``SAVE_AT_LEAST_EVERY`` after the last save under constant changes; never sooner after the
        last save than its share of the time (``SAVING_SHARE``) allows."""
        now = time.monotonic()
        if now - self._saved_when < self._took * (1 / SAVING_SHARE - 1):
            return
        if (
            now - self.tracker.last_change >= SAVE_AFTER_QUIET
            or now - self._saved_when >= SAVE_AT_LEAST_EVERY
        ):
            self.save(in_background=True)

    def _draft(self, data: bytes) -> str:
        """``data`` written whole to a temporary file beside the snapshot; the file's name."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=self.path.parent, prefix=f".{self.path.name}-", delete=False
        ) as draft:
            draft.write(data)
            draft.flush()
            os.fsync(draft.fileno())
        return draft.name


def _encoded(payload: dict[str, Any]) -> bytes:
    """A snapshot file's bytes: its header, then ``payload``."""
    header = {"format": FORMAT, "moto": moto.__version__, "saved_at": datetime.now(UTC).isoformat()}
    return pickle.dumps(header) + _pickled(payload)
