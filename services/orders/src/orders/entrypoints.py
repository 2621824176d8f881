"""The entry point of the fulfilment state machine's tasks: the execution state parsed once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from orders.domain.fulfilment import FulfilmentState
from shared.entrypoint import Handler, lambda_entrypoint
from shared.observability import bind_correlation_id, logger


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
