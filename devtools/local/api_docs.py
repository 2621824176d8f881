"""The API documentation the local gateway serves, without a token and without the internet.

- ``GET /openapi/<service>.json``: the committed OpenAPI document of a service (``openapi/``,
  written by ``make openapi``), read at each request.
- ``GET /docs``: Swagger UI over those documents, one service at a time (the selector at the top),
  from the pinned npm package ``swagger-ui-dist`` in ``node_modules/``. "Authorize" takes a token
  from ``make token``; "Try it out" then calls the gateway itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from devtools.contracts.openapi import DOCUMENTS, HTTP_SERVICES
from devtools.template import ROOT

DOCS_PATH = "/docs"
DOCUMENTS_PATH = "/openapi/"
SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
ASSETS = {  # the files of swagger-ui-dist the page loads, and their media types
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
JSON = "application/json"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shop APIs (local stack)</title>
  <link rel="stylesheet" href="{docs}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{docs}/swagger-ui-bundle.js"></script>
  <script src="{docs}/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      urls: {urls},
      dom_id: "#swagger-ui",
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
      validatorUrl: null,
      persistAuthorization: true,
      displayRequestDuration: true
    }});
  </script>
</body>
</html>
"""


@dataclass(frozen=True)
class Page:
    status: int
    content_type: str
    body: bytes


def _message(status: int, message: str) -> Page:
    return Page(status, JSON, json.dumps({"message": message}).encode())


def _file(path: Path, content_type: str, missing: str) -> Page:
    if not path.is_file():
        return _message(404, missing)
    return Page(200, content_type, path.read_bytes())


def swagger_ui_page() -> Page:
    urls = [{"name": service, "url": f"{DOCUMENTS_PATH}{service}.json"} for service in HTTP_SERVICES]
    html = _PAGE.format(docs=DOCS_PATH, urls=json.dumps(urls))
    return Page(200, "text/html; charset=utf-8", html.encode())


def page(path: str) -> Page | None:
    """What the gateway answers on ``path`` (GET) before routing, or ``None`` for the API's routes."""
    if path in (DOCS_PATH, f"{DOCS_PATH}/"):
        return swagger_ui_page()
    if path.startswith(f"{DOCS_PATH}/"):
        name = path.removeprefix(f"{DOCS_PATH}/")
        if name not in ASSETS:
            return _message(404, "Not Found")
        return _file(SWAGGER_UI / name, ASSETS[name], "Swagger UI is not installed: run `make install`")
    if path.startswith(DOCUMENTS_PATH):
        service = path.removeprefix(DOCUMENTS_PATH).removesuffix(".json")
        if not path.endswith(".json") or service not in HTTP_SERVICES:
            return _message(404, "Not Found")
        return _file(DOCUMENTS / f"{service}.json", JSON, "No document yet: run `make openapi`")
    return None
