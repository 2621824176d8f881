"""Execution environments: each function runs in worker processes of its own, as on Lambda.

A function's first invocation starts a worker: a process forked from the zygote
(``devtools.local.worker``, which holds the third-party libraries already imported) that takes
that function's environment variables only (its template's, the AWS endpoint's, Lambda's own such
as ``AWS_LAMBDA_FUNCTION_NAME``), imports the handler, and then serves invocations one at a time,
keeping its module state between them as a warm Lambda environment does.

- **Concurrency.** A function runs up to ``concurrency`` invocations at once, each in a worker of
  its own; one more waits until a worker is free (Lambda would throttle it). Different functions
  never wait for each other.
- **Timeout.** An invocation that outlives its function's ``Timeout`` is failed with Lambda's
  ``Sandbox.Timedout`` error and its worker killed; the next invocation starts a fresh one. Import
  time does not count (Lambda's init phase has a limit of its own, here ``INIT_TIMEOUT``).
- **Idle exit.** A worker idle for ``idle_exit`` seconds is stopped, as Lambda reclaims idle
  environments: memory follows the work.
- **Reload.** ``retire()`` stops the idle workers and those running once they finish: the next
  invocation imports the code as it is now. ``redefine()`` takes new specs (a service packaged
  again): a new function gets workers on first use, a changed one's workers are retired (the next
  invocation runs with its new handler, environment, memory and timeout), a removed one's too.

Every worker is killed when the stack stops (``stop()``, or ``kill_every_worker()`` from the
stack's watchdog), and exits by itself if the stack is gone.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

from devtools.emulator.lambda_runtime import FunctionError, FunctionSpec
from devtools.template import ROOT

log = logging.getLogger("devtools.local.environments")

INIT_TIMEOUT = 30.0  # seconds a worker may take to import its handler (Lambda: 10 s, on its hardware)
STOP_WAIT = 0.5  # seconds to wait for killed workers to be gone
SCALE_OUT_AFTER = 0.5  # seconds an invocation waits for a busy worker before it starts another
ZYGOTE_LAST_BY = 0.15  # seconds between killing the workers and the zygote, when the stack must go
FORK_WAIT = 0.2  # seconds the stack's stop waits for a fork under way

# Every worker process alive, for the stack's watchdog: it must reach them without taking a lock
# a stuck thread may hold.
_LIVE_PIDS: set[int] = set()
_ZYGOTE_PIDS: set[int] = set()


def kill_every_worker() -> None:
    """SIGKILL every worker, then the zygote; no lock taken. The zygote goes a moment after its
    workers, so that it reaps them: a worker outliving it waits for the system's init to reap it,
    a second or more on a busy machine."""
    for pids in (_LIVE_PIDS, _ZYGOTE_PIDS):
        for pid in list(pids):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if pids is _LIVE_PIDS:
            time.sleep(ZYGOTE_LAST_BY)


def worker_environment(spec: FunctionSpec, base: dict[str, str]) -> dict[str, str]:
    """What a function's process sees: what Lambda sets, ``base`` (the AWS endpoint), its own."""
    code = ROOT / "services" / spec.service / "src"  # the root of the function's zip
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        # What sits at the root of its zip: the service's package, and shared/ (from the repository's).
        "PYTHONPATH": os.pathsep.join([str(code), str(ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(code),
        "_HANDLER": spec.handler,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        **base,
        **spec.environment,
    }


class Zygote:
    """The process the workers are forked from (``devtools.local.worker``), started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.stopped = False

    def fork(self, handler: str, environment: dict[str, str]) -> tuple[int, Connection]:
        """A new worker for ``handler`` under ``environment``: its pid and its connection."""
        ours, theirs = socket.socketpair()
        request = pickle.dumps((handler, environment, environment["LAMBDA_TASK_ROOT"]))
        with self.lock:
            try:
                if self.stopped:
                    raise OSError("stopped")
                control = self.control or self._start()
                socket.send_fds(control, [request], [theirs.fileno()])
                pid = int(control.recv(32) or b"0")
            except OSError:
                pid = 0
        theirs.close()
        if not pid:
            ours.close()
            raise FunctionError("Runtime.Unavailable", "the local stack is stopping")
        _LIVE_PIDS.add(pid)
        return pid, Connection(ours.detach())

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-u", "-m", "devtools.local.worker", str(theirs.fileno())],
            cwd=ROOT,
            env={"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
        )
        _ZYGOTE_PIDS.add(self.process.pid)
        theirs.close()
        self.control = ours
        return ours

    def stop(self) -> None:
        """Kill it. A fork under way (the zygote may still be importing its libraries: seconds)
        is not waited for beyond ``FORK_WAIT``: it fails, as every fork after this one."""
        self.stopped = True
        forking = not self.lock.acquire(timeout=FORK_WAIT)
        try:
            if self.process is not None:
                self.process.kill()
                self.process.wait()
        finally:
            if not forking:
                self.lock.release()


class Worker:
    """One worker process and the connection to it."""

    def __init__(
        self, zygote: Zygote, spec: FunctionSpec, environment: dict[str, str], generation: int
    ) -> None:
        self.pid, self.connection = zygote.fork(spec.handler, environment)
        # Not our child (the zygote's): a pidfd tells when it is gone, and cannot reach another
        # process that took its pid since.
        self.pidfd = os.pidfd_open(self.pid)
        self.generation = generation
        self.last_used = time.monotonic()
        self.stopping = threading.Lock()

    def alive(self) -> bool:
        return not select.select([self.pidfd], [], [], 0)[0]

    def reply(self, timeout: float) -> tuple[Any, ...] | None:
        """The worker's next message, ``("exited",)`` if it died, None after ``timeout`` seconds."""
        try:
            if not self.connection.poll(timeout):
                return None
            return self.connection.recv()
        except (EOFError, OSError):
            return ("exited",)

    def kill(self) -> None:
        if not self.connection.closed:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Kill it and wait until it is gone, up to ``wait`` seconds (once: the stack's stop and an
        invocation's end may both try)."""
        with self.stopping:
            if self.connection.closed:
                return
            self.kill()
            select.select([self.pidfd], [], [], wait)
            self.connection.close()
            os.close(self.pidfd)
            _LIVE_PIDS.discard(self.pid)


class FunctionWorkers:
    """The workers of one function."""

    def __init__(
        self, zygote: Zygote, spec: FunctionSpec, environment: dict[str, str], concurrency: int
    ) -> None:
        self.zygote = zygote
        self.spec = spec
        self.environment = environment
        self.slots = threading.BoundedSemaphore(concurrency)
        self.lock = threading.Condition()  # notified when a worker is given back or has started
        self.idle: list[Worker] = []  # most recently used last
        self.busy: set[Worker] = set()
        self.starting = False  # a cold start under way
        self.generation = 0  # of the code: retire() moves it on
        self.closed = False

    def invoke(self, event: Any) -> Any:
        with self.slots:  # over the cap, wait for a worker to be free
            worker = self._take()
            try:
                reply = self._call(worker, event)
            except BaseException:
                self._discard(worker)
                raise
            self._give_back(worker)
        if reply[0] == "ok":
            return reply[1]
        _, error_type, message, stack_trace = reply
        raise FunctionError(error_type, message, stack_trace)

    def _take(self) -> Worker:
        """An idle worker, or a new one. On a laptop's few cores, parallel imports only make
        every one of them slower: one cold start at a time, and none while a busy worker may be
        given back within ``SCALE_OUT_AFTER`` (a burst is served by the warm workers, more start
        only for invocations that would wait longer)."""
        scale_out_at = time.monotonic() + SCALE_OUT_AFTER
        with self.lock:
            while True:
                if self.closed:
                    raise FunctionError("Runtime.Unavailable", "the local stack is stopping")
                while self.idle:
                    worker = self.idle.pop()
                    if worker.alive():
                        self.busy.add(worker)
                        return worker
                    worker.stop()  # died while idle (killed from outside)
                patience = scale_out_at - time.monotonic()
                if not self.starting and (not self.busy or patience <= 0):
                    break
                self.lock.wait(None if self.starting else patience)
            self.starting = True
            generation = self.generation
        try:
            return self._start(generation)
        finally:
            with self.lock:
                self.starting = False
                self.lock.notify_all()

    def warm(self) -> None:
        """Start a worker now if the function has none, for its first invocation to find."""
        with self.lock:
            if self.idle or self.busy or self.starting or self.closed:
                return
            self.starting = True
            generation = self.generation
        try:
            self._give_back(self._start(generation))
        except FunctionError as error:
            log.error("%s: %s", self.spec.name, error)
        finally:
            with self.lock:
                self.starting = False
                self.lock.notify_all()

    def _start(self, generation: int) -> Worker:
        started = time.perf_counter()
        worker = Worker(self.zygote, self.spec, self.environment, generation)
        with self.lock:
            self.busy.add(worker)
        ready = worker.reply(INIT_TIMEOUT)
        if ready != ("ready",):
            self._discard(worker)
            if ready is None:
                raise FunctionError("Runtime.InitTimeout", f"init took longer than {INIT_TIMEOUT:.0f} s")
            if ready[0] == "exited":
                raise FunctionError("Runtime.ExitError", "the runtime exited during init")
            _, error_type, message, stack_trace = ready
            raise FunctionError(error_type, f"init failed: {message}", stack_trace)
        log.info(
            "%s: worker %d started (init %.0f ms)",
            self.spec.name,
            worker.pid,
            (time.perf_counter() - started) * 1000,
        )
        return worker

    def _call(self, worker: Worker, event: Any) -> tuple[Any, ...]:
        try:
            worker.connection.send((event, self.spec.context()))
        except OSError:
            return ("error", "Runtime.ExitError", "the runtime exited before the invocation", [])
        reply = worker.reply(self.spec.timeout)
        if reply is None:
            log.warning(
                "%s: timed out after %d s (its Timeout): worker %d killed",
                self.spec.name,
                self.spec.timeout,
                worker.pid,
            )
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {self.spec.timeout:.2f} seconds")
        if reply[0] == "exited":
            raise FunctionError("Runtime.ExitError", "Runtime exited without providing a reason")
        return reply

    def _give_back(self, worker: Worker) -> None:
        with self.lock:
            self.busy.discard(worker)
            current = worker.generation == self.generation and not self.closed
            if current:
                worker.last_used = time.monotonic()
                self.idle.append(worker)
                self.lock.notify()
        if not current:
            worker.stop()

    def redefine(self, spec: FunctionSpec, environment: dict[str, str]) -> None:
        """Run as ``spec`` says from the next invocation on."""
        with self.lock:
            self.spec, self.environment = spec, environment
        self.retire()

    def _discard(self, worker: Worker) -> None:
        with self.lock:
            self.busy.discard(worker)
        worker.stop()

    def retire(self) -> None:
        """Stop the idle workers now and the busy ones when they finish."""
        with self.lock:
            self.generation += 1
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.stop()

    def stop_idle(self, idle_for: float) -> list[int]:
        """Stop the workers idle for ``idle_for`` seconds or more; returns their pids."""
        cutoff = time.monotonic() - idle_for
        with self.lock:
            stale = [worker for worker in self.idle if worker.last_used <= cutoff]
            self.idle = [worker for worker in self.idle if worker.last_used > cutoff]
        for worker in stale:
            worker.stop()
        return [worker.pid for worker in stale]

    def close(self) -> list[Worker]:
        """No more workers; returns those there are."""
        with self.lock:
            self.closed = True
            workers = [*self.idle, *self.busy]
            self.idle = []
            self.lock.notify_all()
        return workers


class ExecutionEnvironments:
    """Every function's workers; ``invoke`` is what the gateway, the plumbing and the state
    machines' tasks call."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        base_environment: dict[str, str],
        *,
        concurrency: int,
        idle_exit: float,
    ) -> None:
        self.zygote = Zygote()
        self.base_environment = base_environment
        self.concurrency = concurrency
        self.functions = {name: self._workers(spec) for name, spec in specs.items()}
        self.removed: list[FunctionWorkers] = []  # their invocations under way end, then their workers
        self.idle_exit = idle_exit
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._stop_idle_workers, name="idle-exit", daemon=True)
        self._reaper.start()

    def _workers(self, spec: FunctionSpec) -> FunctionWorkers:
        environment = worker_environment(spec, self.base_environment)
        return FunctionWorkers(self.zygote, spec, environment, self.concurrency)

    def invoke(self, function_name: str, event: Any) -> Any:
        return self.functions[function_name].invoke(event)

    def redefine(self, specs: dict[str, FunctionSpec]) -> None:
        """Serve ``specs`` from now on (see the module's docstring, "Reload")."""
        functions = {}
        for name, spec in specs.items():
            workers = functions[name] = self.functions.get(name) or self._workers(spec)
            if workers.spec != spec:
                workers.redefine(spec, worker_environment(spec, self.base_environment))
        for name in self.functions.keys() - functions.keys():
            self.functions[name].retire()
            self.removed.append(self.functions[name])
        self.functions = functions  # one assignment: the idle reaper iterates the previous dict

    def warm(self, names: Iterable[str]) -> None:
        """A worker for each of ``names``, started one after the other (so that the first
        invocation seldom pays a cold start); they exit when idle like any other."""
        for name in sorted(names):
            if self._stopping.is_set():
                return
            self.functions[name].warm()

    def retire(self, names: Iterable[str]) -> None:
        """The next invocation of each of ``names`` starts a fresh worker (see ``FunctionWorkers``)."""
        for name in names:
            self.functions[name].retire()

    def _stop_idle_workers(self) -> None:
        while not self._stopping.wait(max(0.1, min(self.idle_exit / 4, 5.0))):
            for name, workers in self.functions.items():
                for pid in workers.stop_idle(self.idle_exit):
                    log.info("%s: worker %d idle for %g s: stopped", name, pid, self.idle_exit)

    def stop(self) -> None:
        """Kill every worker at once, wait until they are gone (the zygote reaps them), then kill
        the zygote and reap it: a worker that outlived its zygote would wait for the system's
        init to reap it, a second or more on a busy machine, and the stack must be gone in 3 s."""
        self._stopping.set()
        workers = [
            worker for function in [*self.functions.values(), *self.removed] for worker in function.close()
        ]
        for worker in workers:
            worker.kill()
        deadline = time.monotonic() + STOP_WAIT
        for worker in workers:
            worker.stop(wait=max(0.0, deadline - time.monotonic()))
        self.zygote.stop()
