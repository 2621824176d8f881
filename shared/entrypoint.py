"""The one wrapper of every Lambda entry point: Powertools' logging context (cleared per
invocation), tracing and metrics sit here only, so a handler module holds its own logic alone.
The chain's correlation id is bound by whoever reads it (``shared.http`` from the request,
``shared.consumer`` from an event's metadata, a workflow task from its state)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from shared.observability import logger, metrics, tracer

Handler = Callable[[Any, Any], Any]


def lambda_entrypoint(handler: Handler) -> Handler:
    """Wraps the handler, and ends init's garbage-collection pause (``shared/__init__.py``): what
    init built is frozen, so later collections skip it, and the collector runs again."""
    wrapped: Handler = logger.inject_lambda_context(clear_state=True)(
        tracer.capture_lambda_handler(capture_response=False)(metrics.log_metrics(handler))
    )
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
    return wrapped
