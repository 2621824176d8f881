"""Powertools Logger, Tracer and Metrics, configured by the POWERTOOLS_* environment variables.

One instance of each per process. Every service's serverless.yml sets POWERTOOLS_SERVICE_NAME
and POWERTOOLS_METRICS_NAMESPACE; tests and the local stack set POWERTOOLS_TRACE_DISABLED.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def bind_correlation_id(correlation_id: str) -> None:
    """Tag every later log line of this invocation with the chain's correlation id."""
    logger.set_correlation_id(correlation_id)
