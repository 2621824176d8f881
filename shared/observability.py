"""Powertools Logger, Tracer and Metrics, configured by the POWERTOOLS_* environment variables.

One instance of each per process. Every service's serverless.yml sets POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE and POWERTOOLS_TRACE_DISABLED.

The Tracer is created only when tracing is on: Powertools' Tracer imports the X-Ray SDK as it is
built, which costs about 80 ms of every cold start (measured in docs/performance.md). Lambda's
active tracing still records each invocation; switching POWERTOOLS_TRACE_DISABLED to false on a
stage adds a subsegment per handler and per AWS call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

logger = Logger()
metrics = Metrics()


class LazyTracer:
    """Powertools' ``Tracer`` API, built on first use and only when tracing is enabled."""

    def __init__(self) -> None:
        self._tracer: Any = None

    @property
    def enabled(self) -> bool:
        # Powertools also disables tracing outside Lambda (no LAMBDA_TASK_ROOT).
        disabled = resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))
        return not disabled and bool(os.getenv("LAMBDA_TASK_ROOT"))

    def _real(self) -> Any:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, lambda_handler: Callable[..., Any] | None = None, **options: Any) -> Any:
        if not self.enabled:
            return lambda_handler if lambda_handler is not None else (lambda handler: handler)
        return self._real().capture_lambda_handler(lambda_handler, **options)

    def capture_method(self, method: Callable[..., Any] | None = None, **options: Any) -> Any:
        if not self.enabled:
            return method if method is not None else (lambda function: function)
        return self._real().capture_method(method, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


tracer = LazyTracer()


def bind_correlation_id(correlation_id: str) -> None:
    """Tag every later log line of this invocation with the chain's correlation id."""
    logger.set_correlation_id(correlation_id)
