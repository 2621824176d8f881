"""The local AWS endpoint: moto in server mode, plus the CloudFormation reads of the packaged stacks.

moto holds no CloudFormation stacks (``devtools.emulator.provision`` creates the resources directly), but
``serverless invoke local`` resolves a function's ``Ref`` and ``Fn::ImportValue`` environment
variables by asking CloudFormation (``ListStackResources``, ``ListExports``). Those two calls are
answered here from the packaged templates, with the names and URLs the local resources have;
every other request goes to moto.

moto is not thread-safe and the server answers each request in a thread of its own: DynamoDB and
DynamoDB Streams requests are answered one at a time, so that a reader never sees a transaction
half applied (moto writes a transaction item by item, and takes it back if it is cancelled).
The moto fixes the project carries (``devtools.emulator.moto_patches``) are installed here.

The local stack runs it in a process of its own (``EndpointProcess``), which holds every table,
queue, bus and execution and saves them (``devtools.local.persistence``): restored at its start,
saved when due and at the stack's stop, with the stream positions the stack's pollers send it.
Lambda's Invoke requests for the packaged functions (what moto's Step Functions tasks send, on this
same port) are forwarded to the stack's main process, which runs the functions
(``devtools.local.invoke_api``).
"""

from __future__ import annotations

import ctypes
import gc
import http.client
import io
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qs, unquote
from xml.etree.ElementTree import Element, SubElement, tostring

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from devtools.emulator import moto_patches
from devtools.local.invoke_api import INVOKE_PATH
from devtools.local.persistence import ChangeTracker, Restored, Snapshots
from devtools.local.retention import Retention
from devtools.template import Stacks, function_name_of

log = logging.getLogger("devtools.local.aws_endpoint")

_NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
SAVE_POLL = 0.25  # seconds between two looks at whether the data is due a save
EXIT_WAIT = 0.5  # seconds the stack waits for the endpoint's process to exit before it kills it
_PR_SET_PDEATHSIG = 1  # prctl(2)

# The endpoint's process, for the stack's watchdog: it must reach it without taking a lock.
_PIDS: set[int] = set()


def start(
    stacks: Stacks | Callable[[], Stacks],
    host: str,
    port: int,
    moto_config: dict[str, Any],
    changes: ChangeTracker | None = None,
    *,
    listener: socket.socket | None = None,
    invocations: tuple[str, Callable[[], Collection[str]]] | None = None,
) -> BaseWSGIServer:
    """Serve in a daemon thread, under ``moto_config``; the CloudFormation reads answer from
    ``stacks``, or from what it returns at each read (a reload replaces them); ``changes`` counts
    (and runs one at a time) the requests that may change data, for the snapshots of
    ``devtools.local.persistence``;
    ``listener``, a socket bound to ``host:port`` already, is served instead of binding one;
    ``invocations`` (the ``host:port`` of an Invoke API, and what returns the functions it runs now)
    forwards those functions' Lambda invocations there (``LambdaInvocations``).

    What moto's ``ThreadedMotoServer`` does, but binding the port in the caller's thread, so that
    a port in use raises ``OSError`` here instead of hanging.
    """
    moto_patches.apply()
    moto_app: Callable = OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
    if invocations:
        moto_app = LambdaInvocations(moto_app, *invocations)
    current = stacks if callable(stacks) else lambda: stacks
    app = TemplateStacks(changes.wrap(moto_app) if changes else moto_app, current)
    server = make_server(
        host,
        port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
        fd=listener.fileno() if listener else None,
    )
    threading.Thread(target=server.serve_forever, name="aws-endpoint", daemon=True).start()
    request = urllib.request.Request(
        f"http://{host}:{port}/moto-api/config",
        data=json.dumps(moto_config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).close()  # noqa: S310 - our own endpoint, just started
    return server


def kill_process() -> None:
    """SIGKILL the endpoint's process and reap it; no lock taken (the stack's watchdog)."""
    for pid in list(_PIDS):
        with suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


@dataclass(frozen=True)
class Serving:
    """What the endpoint's process serves: ``stacks`` on ``listener`` (bound already, so that a
    port in use fails in the stack) under ``moto_config``, forwarding ``invocations`` (see
    ``start``), with the data of ``snapshots`` (deleted first if ``fresh``)."""

    stacks: Stacks
    listener: socket.socket
    moto_config: dict[str, Any]
    invocations: tuple[str, frozenset[str]]
    snapshots: Path
    fresh: bool


class EndpointProcess:
    """The AWS endpoint in a process of its own, forked from the stack's main process, whose
    ``Connection`` carries the stack's requests: the stream positions to save with the data
    (``checkpoint``), the templates after a reload (``redefine``), the save at stop (``save``), and
    the end (``stop``, or the stack's death)."""

    def __init__(self, pid: int, control: Connection) -> None:
        self.pid = pid
        self.pidfd = os.pidfd_open(pid)
        self.control = control
        self.sending = threading.Lock()
        self.sent: dict[str, Any] | None = None

    @classmethod
    def fork(cls, serving: Serving) -> EndpointProcess:
        """Fork, and serve in the child. Forked before the caller starts a thread: the child starts
        at once, and shares what the stack imported (moto's modules)."""
        ours, theirs = socket.socketpair()
        parent = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        # What both processes hold now stays shared: the collector never writes to it.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            ours.close()
            control = Connection(theirs.detach())
            _serve(control, parent, serving)
        theirs.close()
        serving.listener.close()
        _PIDS.add(pid)
        return cls(pid, Connection(ours.detach()))

    def wait(self) -> None:
        """Return once the process has ended (it is not reaped: ``stop`` does that)."""
        pidfd = os.pidfd_open(self.pid)  # its own: ``stop`` closes the other
        try:
            select.select([pidfd], [], [])
        finally:
            os.close(pidfd)

    def started(self) -> Restored | None:
        """Wait until it serves; the data it restored, if any."""
        return self._reply("started")

    def checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The pollers' stream positions, for the next save (sent when they changed)."""
        with self.sending:
            if checkpoint != self.sent:
                self.control.send(("checkpoint", checkpoint))
                self.sent = checkpoint

    def redefine(self, stacks: Stacks, functions: Collection[str]) -> None:
        """Serve the CloudFormation reads from ``stacks`` and forward the invocations of
        ``functions`` from now on (a ``serverless.yml`` was packaged again)."""
        with self.sending:
            self.control.send(("redefine", (stacks, frozenset(functions))))

    def save(self, checkpoint: dict[str, Any]) -> bool | None:
        """The save at stop, with the positions of now (no save follows it): True if a snapshot was
        written, False if the last one was up to date, None if it failed (its process logged why)."""
        with self.sending:
            self.control.send(("save", checkpoint))
        return self._reply("saved")

    def _reply(self, expected: str) -> Any:
        try:
            kind, value = self.control.recv()
        except (EOFError, OSError):
            raise RuntimeError("the AWS endpoint's process exited") from None
        if kind != expected:
            raise RuntimeError(f"the AWS endpoint's process said {kind!r}, not {expected!r}")
        return value

    def stop(self) -> None:
        """End it (closing its connection ends it) and reap it, killed after ``EXIT_WAIT``."""
        with self.sending:
            self.control.close()
        if not select.select([self.pidfd], [], [], EXIT_WAIT)[0]:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with suppress(ChildProcessError):  # the watchdog reaped it
            os.waitpid(self.pid, 0)
        _PIDS.discard(self.pid)
        os.close(self.pidfd)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies, SIGKILL included."""
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # it died before the call
        os._exit(1)


def _serve(control: Connection, parent: int, serving: Serving) -> NoReturn:
    """The endpoint's process, until the stack closes the connection (or dies)."""
    code = 1
    try:
        _die_with(parent)
        # The terminal's Ctrl-C reaches every process of the stack, and so does a SIGTERM sent to its
        # process group (``kill -- -<pgid>``, a process manager): the stack stops this one, after the
        # save at stop. (It dies with the stack, SIGKILL included: ``_die_with``.)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _endpoint(control, serving)
    except EOFError:  # the stack closed the connection
        code = 0
    except Exception:
        log.exception("the AWS endpoint's process failed")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _endpoint(control: Connection, serving: Serving) -> None:
    """Serve; restore the data (unless ``fresh``); save it when due once the stack has sent the
    pollers' positions, and for the last time at the stack's ``save``."""
    changes = ChangeTracker()
    host, port = serving.listener.getsockname()
    address, functions = serving.invocations
    served = {"stacks": serving.stacks, "functions": functions}  # replaced whole by a redefinition
    start(
        lambda: served["stacks"],
        host,
        port,
        serving.moto_config,
        changes,
        listener=serving.listener,
        invocations=(address, lambda: served["functions"]),
    )
    serving.listener.close()
    checkpoint: dict[str, Any] = {}
    snapshots = Snapshots(serving.snapshots, changes, lambda: checkpoint)
    retention = Retention(serving.stacks)
    if serving.fresh:
        snapshots.discard()
    control.send(("started", None if serving.fresh else snapshots.restore()))
    stopping = threading.Event()
    saves = threading.Lock()  # taken by each save: none begins after the save at stop

    def save_when_due() -> None:
        while not stopping.wait(SAVE_POLL):
            with saves:
                if stopping.is_set():
                    return
                try:
                    snapshots.save_if_due()
                except Exception:
                    log.exception("saving the data failed; carrying on")

    saver: threading.Thread | None = None
    while True:
        kind, value = control.recv()
        if kind == "redefine":
            served["stacks"], served["functions"] = value
            retention.redefine(value[0])
            continue
        checkpoint = value
        with changes.lock, OneDynamoDBRequestAtATime.lock:  # between two writes, and two stream reads
            retention.trim(checkpoint["stream_positions"])
        if kind == "checkpoint" and saver is None:  # the pollers run: the data is due saves
            saver = threading.Thread(target=save_when_due, name="save", daemon=True)
            saver.start()
        elif kind == "save":
            with saves:
                stopping.set()
                written = None
                try:
                    written = snapshots.save()
                except Exception:
                    log.exception("saving the data at stop failed")
            control.send(("saved", written))


class LambdaInvocations:
    """WSGI middleware sending Lambda's Invoke requests for ``functions`` to the Invoke API at
    ``address`` (``host:port``: ``devtools.local.invoke_api``), and its answer back as it is."""

    def __init__(self, app: Callable, address: str, functions: Callable[[], Collection[str]]) -> None:
        self.app = app
        self.address = address
        self.functions = functions

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        matched = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if not matched or function_name_of(unquote(matched["function"])) not in self.functions():
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        # No timeout: the function's own is enforced there, and answered as Lambda answers it.
        connection = http.client.HTTPConnection(self.address)
        try:
            connection.request("POST", environ["PATH_INFO"], body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        kept = ("Content-Type", "X-Amz-Function-Error", "X-Amzn-ErrorType")
        headers = [(name, response.headers[name]) for name in kept if name in response.headers]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {response.reason}", headers)
        return [payload]


class OneDynamoDBRequestAtATime:
    """WSGI middleware serialising the requests signed for DynamoDB (its streams' too), under one lock
    per process (moto's tables are the process's): ``lock``, which the retention's trims take too."""

    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if "/dynamodb/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)
        with self.lock:
            # moto's responses are lists, built before they are returned: nothing runs after this.
            return list(self.app(environ, start_response))


class TemplateStacks:
    """WSGI middleware answering ``ListStackResources`` and ``ListExports`` from the templates."""

    def __init__(self, app: Callable, stacks: Callable[[], Stacks]) -> None:
        self.app = app
        self.stacks = stacks  # the current ones, read at each request

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if "/cloudformation/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)
        stacks = self.stacks()
        services = {stacks.stack_name(service): service for service in stacks.services}
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again if we do not answer
        parameters = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        action = parameters.get("Action")
        if action == "ListExports":
            result = self._exports(stacks)
        elif action == "ListStackResources" and parameters.get("StackName") in services:
            result = self._resources(stacks, services[parameters["StackName"]])
        else:
            return self.app(environ, start_response)
        payload = _response(action, result)
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _resources(self, stacks: Stacks, service: str) -> Element:
        result = Element("ListStackResourcesResult")
        summaries = SubElement(result, "StackResourceSummaries")
        for logical_id, resource in stacks.templates[service].resources.items():
            _member(
                summaries,
                LogicalResourceId=logical_id,
                PhysicalResourceId=stacks.ref(service, logical_id),
                ResourceType=resource["Type"],
                ResourceStatus="CREATE_COMPLETE",
                LastUpdatedTimestamp="2020-01-01T00:00:00Z",
            )
        return result

    def _exports(self, stacks: Stacks) -> Element:
        result = Element("ListExportsResult")
        exports = SubElement(result, "Exports")
        for name, (service, value) in stacks.exports.items():
            stack_id = (
                f"arn:aws:cloudformation:{stacks.region}:{stacks.account}:"
                f"stack/{stacks.stack_name(service)}/local"
            )
            _member(exports, ExportingStackId=stack_id, Name=name, Value=str(stacks.resolve(service, value)))
        return result


def _member(parent: Element, **fields: str) -> None:
    member = SubElement(parent, "member")
    for tag, text in fields.items():
        SubElement(member, tag).text = text


def _response(action: str, result: Element) -> bytes:
    response = Element(f"{action}Response", xmlns=_NAMESPACE)
    response.append(result)
    SubElement(SubElement(response, "ResponseMetadata"), "RequestId").text = str(uuid.uuid4())
    return tostring(response, encoding="utf-8", xml_declaration=True)
