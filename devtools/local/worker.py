"""The functions' side of the local stack: a zygote that forks execution environments.

``python -m devtools.local.worker <fd>`` is the zygote, started by ``devtools.local.environments``
on the first invocation. It imports the third-party libraries every function imports (the SDK,
pydantic, Powertools: ``PRELOAD``) once, then for each request on its control socket ``<fd>`` —
a handler, an environment, a working directory and the connection to serve — forks a worker. The
worker takes that function's environment variables only, imports the handler (Lambda's init
phase: the project's modules, ``shared/`` included, are imported here, never in the zygote), says
it is ready, then runs one invocation at a time: ``(event, context)`` in, ``("ok", result)`` or
``("error", type, message, stack trace)`` out. What the handler logs goes to the stack's own
output, as a function's goes to CloudWatch.

Forking saves each cold start the libraries' import (most of it: seconds on a busy machine) and
shares their memory between workers. The libraries read no environment variable at import that a
function sets, so a worker is what a fresh interpreter under its function's environment would be.

Both ignore Ctrl-C (the terminal sends it to every process of the stack, which stops them
itself); the zygote exits when the stack closes its control socket, a worker when its parent is
gone, whatever its handler is doing.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from multiprocessing.connection import Connection
from typing import Any

PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
)
PARENT_POLL = 0.1  # seconds between two checks that the parent still runs
MAX_REQUEST = 1 << 20  # bytes: a fork request (handler, environment, paths)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


def _error(error: BaseException) -> tuple[str, str, str, list[str]]:
    return ("error", type(error).__name__, str(error), traceback.format_tb(error.__traceback__))


def serve(connection: Connection, handler_name: str) -> None:
    """A worker's life: init, then invocations until the stack closes the connection."""
    from devtools.emulator.lambda_runtime import import_handler

    # No bytecode written for the project's modules: a .pyc names its source by modification time
    # (in seconds) and size, so an edit within the second of an import, same size, was served
    # stale after a reload (seen: "one" → "two").
    sys.dont_write_bytecode = True
    try:
        handler = import_handler(handler_name)
    except Exception as error:
        traceback.print_exc()
        connection.send(_error(error))
        return
    connection.send(("ready",))
    while True:
        try:
            event, context = connection.recv()
        except EOFError:  # the stack closed the connection: this environment is retired
            return
        try:
            reply: tuple[Any, ...] = ("ok", handler(event, context))
        except Exception as error:
            # What Lambda's Python runtime logs for an unhandled exception, before it reports it.
            traceback.print_exc()
            reply = _error(error)
        sys.stdout.flush()
        try:
            connection.send(reply)  # pickled whole before a byte is written
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            # Lambda answers a function error for a result it cannot serialise.
            connection.send(("error", "Runtime.MarshalError", f"Unable to marshal response: {error}", []))


def _worker(fd: int, handler: str, environment: dict[str, str], cwd: str) -> None:
    """In the forked child: become what an interpreter started with ``environment`` in ``cwd``
    would be, then serve."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a handler may run subprocesses and wait for them
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    os.environ.clear()
    os.environ.update(environment)
    sys.path[:0] = [path for path in environment.get("PYTHONPATH", "").split(os.pathsep) if path]
    os.chdir(cwd)
    serve(Connection(fd), handler)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    # Without CloudWatch, the metrics blob of an invocation that published none is noise.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    for module in PRELOAD:
        importlib.import_module(module)
    gc.freeze()  # what the workers inherit stays shared: the collector never writes to it
    while True:
        try:
            request, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 1)
        except OSError:
            return
        if not request:  # the stack closed the control socket
            return
        handler, environment, cwd = pickle.loads(request)  # noqa: S301 - from our parent only
        pid = os.fork()
        if pid == 0:
            control.close()
            try:
                _worker(fds[0], handler, environment, cwd)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        os.close(fds[0])
        try:
            control.send(str(pid).encode())
        except OSError:  # the stack is gone (its start failed, or it was killed): so is its worker
            return


if __name__ == "__main__":
    main()
