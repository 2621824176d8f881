"""A poller per event source mapping, as Lambda has, and one for the bus tap: a slow consumer (a
cold start, a timeout) holds up its own source only.

Each poller is a thread of its own with a ``Plumbing`` of its own (its own boto3 session: a session
is not thread-safe), and they share the functions' processes. ``sync`` brings them in line with
the mappings of the templates, at the start and after a service was packaged again
(``devtools.local.definitions``): a new mapping gets a poller, a removed one's poller stops after its
round, and a changed one (batch size, filters, retries...) gets a new poller that starts where its
predecessor stood in the stream.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from devtools.emulator.plumbing import EventSourceMapping, Plumbing

log = logging.getLogger("devtools.local.pollers")

FAST_POLL, IDLE_POLL = 0.05, 0.5  # seconds between plumbing rounds, busy and idle

MappingKey = tuple[str, str]  # (function name, source ARN)


def pump_forever(pump: Callable[[], int], stop: threading.Event, retired: threading.Event) -> None:
    """Deliver until ``stop`` (the stack's) or ``retired`` (this poller's); a failure is logged,
    never fatal."""
    delay = FAST_POLL
    while not (stop.is_set() or retired.is_set()):
        try:
            moved = pump()
        except Exception:
            log.exception("plumbing round failed; carrying on")
            moved = 0
        delay = FAST_POLL if moved else min(delay * 2, IDLE_POLL)
        stop.wait(delay)


def mapping_key(mapping: EventSourceMapping) -> MappingKey:
    return (mapping.function.name, mapping.source_arn)


def mapping_settings(mapping: EventSourceMapping) -> dict[str, Any]:
    """What a poller delivers by: the mapping, but for its function's spec (which the function's
    workers take care of) and with its filters as patterns (comparable)."""
    settings = {field.name: getattr(mapping, field.name) for field in dataclasses.fields(mapping)}
    del settings["function"]
    settings["filters"] = [pattern.get_pattern() for pattern in mapping.filters]
    return settings


@dataclass
class _Poller:
    thread: threading.Thread
    retired: threading.Event


@dataclass
class _MappingPoller(_Poller):
    plumbing: Plumbing  # of its own, for this mapping alone
    settings: dict[str, Any]  # the mapping's, as it started


class Pollers:
    """The stack's pollers; every one ends when ``stop`` is set."""

    def __init__(self, stop: threading.Event, invoke: Callable[[str, Any], Any]) -> None:
        self.stop = stop
        self.invoke = invoke
        self._mappings: dict[MappingKey, _MappingPoller] = {}
        self._others: list[_Poller] = []

    def add(self, name: str, pump: Callable[[], int]) -> None:
        """A poller for ``pump`` (the bus tap's), until the stack stops."""
        self._others.append(_Poller(*self._start(name, pump)))

    def sync(self, plumbing: Plumbing, resume: dict[str, Any] | None = None) -> None:
        """A poller for each of ``plumbing``'s mappings, as they are now; new ones start from
        ``resume`` (``checkpoint()``'s, restored from a snapshot) where it has their positions."""
        wanted = {mapping_key(mapping): mapping for mapping in plumbing.mappings}
        for key in [key for key in self._mappings if key not in wanted]:
            self._retire(key)
            del self._mappings[key]
        for key, mapping in wanted.items():
            current = self._mappings.get(key)
            if current is not None and current.settings == mapping_settings(mapping):
                continue
            own = Plumbing(
                plumbing.stacks,
                boto3.Session(),
                plumbing.endpoint_url,
                retry_delay=plumbing.retry_delay,
                on_delivery=plumbing.on_delivery,
                invoker=self.invoke,
            )
            own.mappings = [m for m in own.mappings if mapping_key(m) == key]
            if current is not None:
                self._retire(key)  # its round ends first: a record is never delivered twice at once
                own.resume(current.plumbing.checkpoint())
            elif resume:
                own.resume(resume)
            thread, retired = self._start(f"{mapping.kind}-{mapping.function.short_name}", own.pump)
            self._mappings[key] = _MappingPoller(thread, retired, own, mapping_settings(mapping))

    def checkpoint(self) -> dict[str, Any]:
        """Where every mapping's consumer is in its stream, all pollers together."""
        positions = [
            position
            for poller in list(self._mappings.values())
            for position in poller.plumbing.checkpoint()["stream_positions"]
        ]
        return {"stream_positions": sorted(positions)}

    def join(self, deadline: float) -> None:
        """Wait, up to ``deadline`` (``time.monotonic()``), for the pollers to end their rounds."""
        for poller in [*self._mappings.values(), *self._others]:
            poller.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _start(self, name: str, pump: Callable[[], int]) -> tuple[threading.Thread, threading.Event]:
        retired = threading.Event()
        thread = threading.Thread(
            target=pump_forever, args=(pump, self.stop, retired), name=name, daemon=True
        )
        thread.start()
        return thread, retired

    def _retire(self, key: MappingKey) -> None:
        poller = self._mappings[key]
        poller.retired.set()
        poller.thread.join()
