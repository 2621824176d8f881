"""Lambda's Invoke API for the functions' workers, served by the stack's main process on a loopback
port: the AWS endpoint, in a process of its own (``devtools.local.aws_endpoint``), forwards to it
the invocations of the packaged functions, which is how moto's Step Functions tasks reach them.

``POST /2015-03-31/functions/<name>/invocations`` with the event as its body is answered as Lambda
answers a synchronous invocation: 200 with the result, or with the error (``errorType``,
``errorMessage``, ``stackTrace``) and ``X-Amz-Function-Error: Unhandled`` for a function error, a
timeout (``Sandbox.Timedout``) included (``Plumbing.state_machine_task``, which logs the delivery);
404 ``ResourceNotFoundException`` for a function the templates do not hold.
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
            body = json.dumps({"Type": "User", "Message": f"Function not found: {name or '-'}"}).encode()
            start_response(
                "404 Not Found",
                [
                    ("Content-Type", "application/json"),
                    ("X-Amzn-ErrorType", "ResourceNotFoundException"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        payload, failed = self.plumbing.state_machine_task(name, json.loads(raw) if raw else {})
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        if failed:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [payload]


def serve(listener: socket.socket, plumbing: Plumbing) -> BaseWSGIServer:
    """Serve on ``listener`` (a loopback socket already bound, taken over) in a daemon thread."""
    host, port = listener.getsockname()
    server = make_server(host, port, InvokeApi(plumbing), threaded=True, fd=listener.fileno())
    listener.close()  # the server holds a copy of it
    threading.Thread(target=server.serve_forever, name="invoke-api", daemon=True).start()
    return server
