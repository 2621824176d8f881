"""Lambda's Invoke API for the functions' workers, served by the stack's main process on a loopback
port: the AWS endpoint, in a process of its own (``devtools.local.aws_endpoint``), forwards to it
the invocations of the packaged functions, which is how moto's Step Functions tasks reach them.

``POST /2015-03-31/functions/<name>/invocations`` with the event as its body is answered as Lambda
answers a synchronous invocation: 200 with the result, or with the error (``errorType``,
``errorMessage``, ``stackTrace``) and ``X-Amz-Function-Error: Unhandled`` for a function error, a
timeout (``Sandbox.Timedout``) included (``Plumbing.state_machine_task``, which logs the delivery);
404 ``ResourceNotFoundException`` for a function the templates do not hold, 400
``InvalidRequestContentException`` for a body that is not JSON.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import BaseWSGIServer, make_server

from devtools.emulator.plumbing import Plumbing
from devtools.template import function_name_of

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")


class InvokeApi:
    """The WSGI application: each invocation runs in the request's thread (werkzeug's, one each)."""

    def __init__(self, plumbing: Plumbing) -> None:
        self.plumbing = plumbing

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        matched = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        name = function_name_of(unquote(matched["function"])) if matched else ""
        if environ["REQUEST_METHOD"] != "POST" or name not in self.plumbing.specs:
            return _refused(
                start_response,
                "404 Not Found",
                "ResourceNotFoundException",
                f"Function not found: {name or '-'}",
            )
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            event = json.loads(raw) if raw else {}
        except ValueError:
            return _refused(
                start_response,
                "400 Bad Request",
                "InvalidRequestContentException",
                "Could not parse request body into json",
            )
        payload, failed = self.plumbing.state_machine_task(name, event)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        if failed:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [payload]


def _refused(start_response: Callable, status: str, error_type: str, message: str) -> list[bytes]:
    """Answered as Lambda answers a request it refuses."""
    body = json.dumps({"Type": "User", "Message": message}).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("X-Amzn-ErrorType", error_type),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def serve(listener: socket.socket, plumbing: Plumbing) -> BaseWSGIServer:
    """Serve on ``listener`` (a loopback socket already bound, taken over) in a daemon thread."""
    host, port = listener.getsockname()
    server = make_server(host, port, InvokeApi(plumbing), threaded=True, fd=listener.fileno())
    listener.close()  # the server holds a copy of it
    threading.Thread(target=server.serve_forever, name="invoke-api", daemon=True).start()
    return server
