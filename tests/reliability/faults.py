"""Faults injected under every boto3 client of the process, on moto.

``AwsFaults`` wraps ``BaseClient._make_api_call``, the layer every SDK call passes through, above
botocore's own retries: a fault there is what our code sees once the SDK has given up, and a call
let through reaches moto exactly as it would otherwise. Handler modules build their clients at
import, so a per-client hook could not reach them; this reaches every client, old and new.

A fault is ``fault(call, params) -> response``: it may answer instead of AWS, change the request,
call through (``call(params)``) and change the answer, or raise after AWS acted.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

Call = Callable[[dict], dict]
Fault = Callable[[Call, dict], dict]


class LambdaKilled(BaseException):
    """The execution environment died mid-request (timeout, out of memory, crash). A
    ``BaseException``, so no ``except Exception`` in a handler turns it into a response."""


class AwsFaults:
    """Faults by operation name (``"PutEvents"``), for every client while installed.

    ``serialize=True`` lets one call into moto run at a time: moto's DynamoDB is not thread-safe
    (a cancelled transaction restores a snapshot of the whole table, undoing a concurrent commit),
    whereas DynamoDB serialises the writes to one item. Faults run outside that lock, so a
    ``Rendezvous`` can still hold every caller at the same point.
    """

    def __init__(self, *, serialize: bool = False) -> None:
        self.faults: dict[str, Fault] = {}
        self._lock = threading.Lock() if serialize else None

    def on(self, operation: str, fault: Fault) -> Fault:
        self.faults[operation] = fault
        return fault

    def wrap(self, make_api_call: Callable) -> Callable:
        faults, lock = self.faults, self._lock

        def faulty_make_api_call(client: BaseClient, operation_name: str, api_params: dict) -> dict:
            def call(params: dict) -> dict:
                if lock is None:
                    return make_api_call(client, operation_name, params)
                with lock:
                    return make_api_call(client, operation_name, params)

            fault = faults.get(operation_name)
            return fault(call, api_params) if fault else call(api_params)

        return faulty_make_api_call


def client_error(code: str, operation: str, message: str = "injected") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FlakyPutEvents:
    """``PutEvents`` as EventBridge answers under stress: the first ``throttled_calls`` calls fail
    whole with ``ThrottlingException``; after that, each entry of a call is refused with probability
    ``refused_share`` (``ThrottlingException`` or ``InternalFailure`` in its result), the rest is
    published. Seeded, so a run is reproducible."""

    refused_share: float = 0.0
    throttled_calls: int = 0
    seed: int = 7
    calls: int = 0
    throttled: int = 0
    refused: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # a reproducible fault schedule

    def __call__(self, call: Call, params: dict) -> dict:
        self.calls += 1
        if self.throttled < self.throttled_calls:
            self.throttled += 1
            raise client_error("ThrottlingException", "PutEvents", "Rate exceeded")
        entries = params["Entries"]
        refused = [self._random.random() < self.refused_share for _ in entries]
        accepted = [entry for entry, no in zip(entries, refused, strict=True) if not no]
        published = iter(call({**params, "Entries": accepted})["Entries"] if accepted else [])
        results = []
        for no in refused:
            if no:
                self.refused += 1
                code = self._random.choice(["ThrottlingException", "InternalFailure"])
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                results.append(next(published))
        return {"FailedEntryCount": sum(refused), "Entries": results}


@dataclass
class KillAfter:
    """AWS performs the call, then the caller dies before it can use the answer (``times`` times)."""

    times: int = 1
    kills: int = 0

    def __call__(self, call: Call, params: dict) -> Any:
        response = call(params)
        if self.kills < self.times:
            self.kills += 1
            raise LambdaKilled("killed after the call succeeded")
        return response


class Rendezvous:
    """Holds every caller until ``parties`` of them are waiting, then lets them all call: the
    interleaving where each one read before anyone wrote."""

    def __init__(self, parties: int, timeout: float = 60.0) -> None:
        self._barrier = threading.Barrier(parties, timeout=timeout)

    def __call__(self, call: Call, params: dict) -> dict:
        self._barrier.wait()
        return call(params)
