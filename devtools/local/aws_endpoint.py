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
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.etree.ElementTree import Element, SubElement, tostring

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from devtools.emulator import moto_patches
from devtools.local.persistence import ChangeTracker
from devtools.template import Stacks

_NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


def start(
    stacks: Stacks | Callable[[], Stacks],
    host: str,
    port: int,
    moto_config: dict[str, Any],
    changes: ChangeTracker | None = None,
) -> BaseWSGIServer:
    """Serve in a daemon thread, under ``moto_config``; the CloudFormation reads answer from
    ``stacks``, or from what it returns at each read (the local stack's: a reload replaces them);
    ``changes`` counts (and runs one at a time) the requests that may change data, for the
    snapshots of ``devtools.local.persistence``.

    What moto's ``ThreadedMotoServer`` does, but binding the port in the caller's thread, so that
    a port in use raises ``OSError`` here instead of hanging.
    """
    moto_patches.apply()
    moto_app: Callable = OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
    current = stacks if callable(stacks) else lambda: stacks
    app = TemplateStacks(changes.wrap(moto_app) if changes else moto_app, current)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="aws-endpoint", daemon=True).start()
    request = urllib.request.Request(
        f"http://{host}:{port}/moto-api/config",
        data=json.dumps(moto_config).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).close()  # noqa: S310 - our own endpoint, just started
    return server


class OneDynamoDBRequestAtATime:
    """WSGI middleware serialising the requests signed for DynamoDB (its streams' too)."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.lock = threading.Lock()

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
