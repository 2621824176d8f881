"""Lambda entry points of the functions that are not HTTP: logging context, tracing and metrics on
the entry point only, and the state machine tasks' state parsed once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from orders.domain.fulfilment import FulfilmentState
from shared.observability import bind_correlation_id, logger, metrics, tracer

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_entrypoint(handler: Handler) -> Handler:
    return logger.inject_lambda_context(clear_state=True)(
        tracer.capture_lambda_handler(capture_response=False)(metrics.log_metrics(handler))
    )


def workflow_task(step: Callable[[FulfilmentState], dict[str, Any]]) -> Handler:
    """A Step Functions Lambda task: the execution state in, the step's result (its ResultPath) out.
    An exception fails the task with the exception's class name, which Retry and Catch match."""

    @lambda_entrypoint
    @functools.wraps(step)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        state = FulfilmentState.model_validate(event)
        bind_correlation_id(state.correlation_id)
        logger.append_keys(order_id=state.order_id)
        return step(state)

    return handler
