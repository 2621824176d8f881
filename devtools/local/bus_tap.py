"""Watching every event that crosses the local buses, and where the rules sent it.

The tap is one more rule per bus, matching every event, with an SQS queue as target (what a
deployed system would do with an archive or a logging rule). Each event read from it is matched
against the rules of the packaged templates, so the log says which consumers it reached: the
queue (and the functions mapped to that queue), the state machine, or the function a rule
targets. moto cannot deliver to Lambda targets, so the tap invokes those itself, once, as an
asynchronous invocation would (no retries locally).

The tap's queues are bounded: each round reads a queue until it is empty, and a backlog over
``BACKLOG_LIMIT`` events (a stack too busy to log them) is dropped from the log, with a warning
saying how many; the services' own queues, fed by their own rules, are untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern

from devtools.emulator.plumbing import EventSourceMapping
from devtools.template import Stacks

log = logging.getLogger("devtools.bus")

TAP = "local-stack-tap"
BACKLOG_LIMIT = 1000  # events waiting in one tap queue before the log gives them up


@dataclass(frozen=True)
class BusRule:
    name: str
    bus: str
    pattern: EventPattern
    targets: tuple[str, ...]  # ARNs


def _bus_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


def bus_rules(stacks: Stacks) -> list[BusRule]:
    """Every rule of every packaged template, with its resolved pattern and target ARNs."""
    found = []
    for service, template in stacks.templates.items():
        for logical_id, raw in template.of_type("AWS::Events::Rule"):
            props = stacks.resolve(service, raw)
            if "EventPattern" not in props or props.get("State", "ENABLED") != "ENABLED":
                continue
            found.append(
                BusRule(
                    name=stacks.physical_name(service, logical_id),
                    bus=_bus_name(props.get("EventBusName", "default")),
                    pattern=EventPattern.load(json.dumps(props["EventPattern"])),
                    targets=tuple(target["Arn"] for target in props.get("Targets", [])),
                )
            )
    return found


@dataclass
class BusTap:
    stacks: Stacks
    sqs: Any  # boto3 clients on the local endpoint
    events: Any
    mappings: list[EventSourceMapping]
    invoke: Callable[[str, Any], Any]  # (function name, event): a Lambda target's delivery

    def __post_init__(self) -> None:
        self.queues: dict[str, str] = {}  # bus -> tap queue URL, once installed
        self._read_rules()

    def _read_rules(self) -> None:
        self.rules = bus_rules(self.stacks)
        declared = {
            _bus_name(str(self.stacks.resolve(service, props["Name"])))
            for service, template in self.stacks.templates.items()
            for _, props in template.of_type("AWS::Events::EventBus")
        }
        self.buses = sorted(declared | {rule.bus for rule in self.rules})

    def redefine(self, stacks: Stacks, mappings: list[EventSourceMapping]) -> None:
        """Follow ``stacks``'s rules and ``mappings`` from now on (a service packaged again); a new
        bus is tapped too."""
        self.stacks, self.mappings = stacks, mappings
        self._read_rules()
        self.install()

    def install(self) -> None:
        """Add the catch-all rule and its queue to every bus the templates use (not tapped yet)."""
        for bus in [bus for bus in self.buses if bus not in self.queues]:
            queue_url = self.sqs.create_queue(QueueName=f"{TAP}-{bus}")["QueueUrl"]
            queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            self.events.put_rule(
                Name=TAP,
                EventBusName=bus,
                EventPattern=json.dumps({"account": [self.stacks.account]}),
            )
            self.events.put_targets(
                Rule=TAP,
                EventBusName=bus,
                Targets=[{"Id": TAP, "Arn": queue_arn["Attributes"]["QueueArn"]}],
            )
            self.queues = self.queues | {bus: queue_url}  # one assignment: pump() iterates it

    def pump(self) -> int:
        """Log (and deliver to Lambda targets) the events published since the last call."""
        seen = 0
        for bus, queue_url in self.queues.items():
            self._drop_backlog_over_limit(bus, queue_url)
            while messages := self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    self._observe(bus, json.loads(message["Body"]))
                self.sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                        for n, message in enumerate(messages)
                    ],
                )
                seen += len(messages)
        return seen

    def _drop_backlog_over_limit(self, bus: str, queue_url: str) -> None:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        backlog = int(attributes["ApproximateNumberOfMessages"])
        if backlog > BACKLOG_LIMIT:
            self.sqs.purge_queue(QueueUrl=queue_url)
            log.warning(
                "%s: %d events waited to be logged (over %d): dropped from the log, "
                "and not delivered to rules' Lambda targets",
                bus,
                backlog,
                BACKLOG_LIMIT,
            )

    def targets(self, bus: str, event: dict[str, Any]) -> list[str]:
        """The target ARNs of every rule of ``bus`` that matches ``event``."""
        return [
            arn
            for rule in self.rules
            if rule.bus == bus and rule.pattern.matches_event(event)
            for arn in rule.targets
        ]

    def _describe(self, arn: str) -> str:
        name = arn.rsplit(":", 1)[-1]
        if ":sqs:" in arn:
            functions = [m.function.name for m in self.mappings if m.source_arn == arn]
            return f"queue {name}" + "".join(f" → {f}" for f in functions)
        if ":states:" in arn:
            return f"state machine {name}"
        if ":lambda:" in arn:
            return f"function {_function_name(arn)}"
        return arn

    def _observe(self, bus: str, event: dict[str, Any]) -> None:
        metadata = (event.get("detail") or {}).get("metadata") or {}
        targets = self.targets(bus, event)
        log.info(
            "%s %s correlation_id=%s → %s",
            event.get("source"),
            event.get("detail-type"),
            metadata.get("correlation_id", "-"),
            "; ".join(self._describe(arn) for arn in targets) or "no rule matched",
        )
        for arn in targets:
            if ":lambda:" in arn:
                function = _function_name(arn)
                try:
                    self.invoke(function, event)
                except Exception:
                    log.exception(
                        "%s failed on %s (asynchronous, not retried locally)",
                        function,
                        event.get("detail-type"),
                    )


def _function_name(arn: str) -> str:
    return arn.split(":function:", 1)[1].split(":", 1)[0]
