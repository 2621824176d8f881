"""Starting the fulfilment state machine, once per order."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from orders.domain.fulfilment import FulfilmentState
from orders.domain.model import Order


class StepFunctionsStarter:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def start(self, order: Order) -> bool:
        # The execution is named after the order: Step Functions refuses a second execution of
        # the same name, so a redelivered stream record cannot charge an order twice.
        try:
            self._client.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=order.order_id,
                input=FulfilmentState.start(order).model_dump_json(exclude_none=True),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return False
            raise
        return True
