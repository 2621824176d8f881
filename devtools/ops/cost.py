"""Monthly AWS cost of a traffic profile, from the packaged templates and one price table.

``python -m devtools.ops.cost`` (``make cost``). What deploys is read from the templates of a stage
(``--stage``, default ``prod``) packaged into ``.cache/stages/<stage>/``: each function's memory,
architecture and tracing, the function behind each HTTP API route, the outbox publisher on each
table's stream, the bus rules an event matches and their targets (queue → consumer function, state
machine → its steps and Lambda tasks), the queues a function may feed, and which tables keep
point-in-time backups, which functions run with SnapStart. ``devtools/ops/traffic.toml`` says what a
request does that no template tells (request units, events, messages); ``devtools/ops/prices.toml``
holds every price. Durations are the profile's default or, with ``--durations``, the ones
``make bench`` measured.

The model counts per request: one invocation per record at each hop (batches of one, the
low-traffic case: an upper bound on invocations), three SQS requests per message (send, receive,
delete), every state of a state machine's first path (the first branch of a Choice, no retries).
"""

from __future__ import annotations

import argparse
import json
import math
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from moto.events.models import EventPattern

from devtools.emulator.apigw import routes as http_routes
from devtools.template import ROOT, Stacks, function_name_of, package_stage
from shared.events.registry import EVENT_MODELS

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices.toml"
TRAFFIC = HERE / "traffic.toml"
REFERENCE_MONTHLY = 174.0  # docs/architecture.md, 10 M requests, Lambda + HTTP API + DynamoDB + logs
SECONDS_PER_MONTH = 730 * 3600
PAID_BY_BOTH = frozenset({"SES"})
# Bill lines left out of a route's cost per million requests: they do not grow with its requests.
PER_MONTH_NOT_PER_REQUEST = frozenset({"X-Ray (sampled traces)", "Lambda SnapStart cache"})
LAMBDA_TASK = "arn:aws:states:::lambda:invoke"


# -- the profile ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Units:
    read_units: float = 0.0
    write_units: float = 0.0


@dataclass(frozen=True)
class RouteTraffic:
    share: float
    units: Units = Units()
    messages: int = 0
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    requests_per_month: float
    storage_gb: float
    storage_share: dict[str, float]
    peak_to_average: float
    default_duration_ms: float
    log_kb_per_invocation: float
    routes: dict[str, RouteTraffic]
    functions: dict[str, Units]
    emails: dict[str, int]
    changes: dict[str, dict[str, str]]
    durations_ms: dict[str, float] = field(default_factory=dict)
    snapstart_versions: int = 1
    new_environment_share: float = 0.0

    @classmethod
    def load(cls, path: Path = TRAFFIC) -> Profile:
        raw = tomllib.loads(path.read_text())
        return cls(
            requests_per_month=float(raw["requests_per_month"]),
            storage_gb=float(raw["storage_gb"]),
            storage_share=raw["storage_share"],
            peak_to_average=float(raw["peak_to_average"]),
            default_duration_ms=float(raw["default_duration_ms"]),
            log_kb_per_invocation=float(raw["log_kb_per_invocation"]),
            routes={
                key: RouteTraffic(
                    share=float(route["share"]),
                    units=Units(route.get("read_units", 0), route.get("write_units", 0)),
                    messages=int(route.get("messages", 0)),
                    events=tuple(route.get("events", ())),
                )
                for key, route in raw["routes"].items()
            },
            functions={key: Units(**units) for key, units in raw["functions"].items()},
            emails=raw.get("emails", {}),
            changes=raw.get("changes", {}),
            snapstart_versions=int(raw["snapstart_versions"]),
            new_environment_share=float(raw["new_environment_share"]),
        )

    def duration_ms(self, key: str) -> float:
        return self.durations_ms.get(key, self.default_duration_ms)

    def units_of(self, function: Function) -> Units:
        return self.functions.get(function.key, self.functions.get("default", Units()))


# -- what deploys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    service: str
    name: str  # deployed name, shop-<service>-<stage>-<key>
    key: str  # "<service>.<name under functions:>"
    memory_mb: int
    architecture: str
    traced: bool
    sends_email: bool
    snap_start: bool = False


@dataclass(frozen=True)
class Execution:
    """One run of a state machine along its first path."""

    machine: str
    transitions: int
    tasks: tuple[Function, ...]


@dataclass(frozen=True)
class Delivery:
    """Where a rule sends an event: a consumer behind a queue, a function, or a state machine."""

    via_queue: bool
    consumer: Function | None = None
    execution: Execution | None = None


@dataclass
class System:
    routes: dict[str, Function]  # route key -> the function integrated
    stream_consumers: dict[str, list[tuple[list[EventPattern], Function]]]  # service -> (filters, f)
    queue_consumers: dict[str, list[Function]]  # function name -> consumers of the queues it may feed
    executions: dict[str, list[Execution]]  # function name -> the state machines it may start
    rules: list[tuple[EventPattern, list[Delivery]]]
    point_in_time_recovery: dict[str, bool]  # service -> do its tables keep continuous backups
    alarms: int  # CloudWatch alarms, billed per alarm-month whatever the traffic
    dashboards: int  # CloudWatch dashboards, billed per dashboard-month beyond the account's free ones

    @classmethod
    def from_stacks(cls, stacks: Stacks) -> System:
        functions = {f.name: f for f in _functions(stacks)}
        by_logical_id = {
            (service, logical_id): functions[stacks.resolve(service, props["FunctionName"])]
            for service, template in stacks.templates.items()
            for logical_id, props in template.of_type("AWS::Lambda::Function")
        }
        mappings = list(_event_source_mappings(stacks, functions))
        queue_consumers = {arn: [f for source, _, f in mappings if source == arn] for arn, _, _ in mappings}
        machines = _state_machines(stacks, functions)
        stream_consumers: dict[str, list] = {}
        for source, filters, function in mappings:
            if source.startswith("arn:aws:dynamodb:"):
                stream_consumers.setdefault(function.service, []).append((filters, function))
        return cls(
            routes={
                route.route_key: by_logical_id[(route.service, route.function)]
                for route in http_routes(stacks)
            },
            stream_consumers=stream_consumers,
            queue_consumers={
                f.name: [
                    c for queue in _may(stacks, f, "sqs:SendMessage") for c in queue_consumers.get(queue, [])
                ]
                for f in functions.values()
            },
            executions={
                f.name: [machines[arn] for arn in _may(stacks, f, "states:StartExecution") if arn in machines]
                for f in functions.values()
            },
            rules=list(_rules(stacks, functions, queue_consumers, machines)),
            point_in_time_recovery={
                service: any(
                    stacks.resolve(service, props)
                    .get("PointInTimeRecoverySpecification", {})
                    .get("PointInTimeRecoveryEnabled")
                    in (True, "true")
                    for _, props in template.of_type("AWS::DynamoDB::Table")
                )
                for service, template in stacks.templates.items()
            },
            alarms=sum(len(list(t.of_type("AWS::CloudWatch::Alarm"))) for t in stacks.templates.values()),
            dashboards=sum(
                len(list(t.of_type("AWS::CloudWatch::Dashboard"))) for t in stacks.templates.values()
            ),
        )

    def deliveries(self, detail_type: str) -> list[Delivery]:
        event = {"source": _source(detail_type), "detail-type": detail_type, "detail": {}}
        return [d for pattern, targets in self.rules if pattern.matches_event(event) for d in targets]


def _source(detail_type: str) -> str:
    return next((m.source for m in EVENT_MODELS if m.detail_type == detail_type), "unknown.unknown")


def _functions(stacks: Stacks) -> Iterator[Function]:
    for service, template in stacks.templates.items():
        roles = dict(template.of_type("AWS::IAM::Role"))
        for _, raw in template.of_type("AWS::Lambda::Function"):
            props = stacks.resolve(service, raw)
            role = raw.get("Role", {}).get("Fn::GetAtt", [None])[0]
            name = props["FunctionName"]
            yield Function(
                service=service,
                name=name,
                key=f"{service}.{name.removeprefix(f'shop-{service}-').split('-', 1)[1]}",
                memory_mb=int(props.get("MemorySize", 128)),
                architecture=(props.get("Architectures") or ["x86_64"])[0],
                traced=props.get("TracingConfig", {}).get("Mode") == "Active",
                sends_email=any(a.startswith("ses:Send") for a, _ in _allowed(roles.get(role, {}))),
                snap_start=props.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions",
            )


def _allowed(role: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(action, resource) pairs a role's inline policies allow."""
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            for action in actions:
                for resource in resources:
                    yield action, resource


def _may(stacks: Stacks, function: Function, action: str) -> list[str]:
    """The resources ``function``'s role allows ``action`` on."""
    template = stacks.templates[function.service]
    for _, raw in template.of_type("AWS::Lambda::Function"):
        if stacks.resolve(function.service, raw["FunctionName"]) == function.name:
            role = template.resources.get(raw.get("Role", {}).get("Fn::GetAtt", [None])[0], {})
            allowed = _allowed(role.get("Properties", {}))
            return [stacks.resolve(function.service, resource) for a, resource in allowed if a == action]
    return []


def _event_source_mappings(
    stacks: Stacks, functions: dict[str, Function]
) -> Iterator[tuple[str, list[EventPattern], Function]]:
    """(source ARN without the stream suffix, filter patterns, consumer) for every mapping."""
    for service, template in stacks.templates.items():
        for _, raw in template.of_type("AWS::Lambda::EventSourceMapping"):
            props = stacks.resolve(service, raw)
            function = functions[function_name_of(str(props["FunctionName"]))]
            filters = [
                EventPattern.load(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
            ]
            yield props["EventSourceArn"].split("/stream/", 1)[0], filters, function


def _state_machines(stacks: Stacks, functions: dict[str, Function]) -> dict[str, Execution]:
    return {
        stacks.arn(service, logical_id): _execution(stacks, service, logical_id, functions)
        for service, template in stacks.templates.items()
        for logical_id, _ in template.of_type("AWS::StepFunctions::StateMachine")
    }


def _rules(
    stacks: Stacks,
    functions: dict[str, Function],
    queue_consumers: dict[str, list[Function]],
    machines: dict[str, Execution],
) -> Iterator[tuple[EventPattern, list[Delivery]]]:
    for service, template in stacks.templates.items():
        for _, raw in template.of_type("AWS::Events::Rule"):
            props = stacks.resolve(service, raw)
            deliveries = []
            for target in props.get("Targets", []):
                arn = target["Arn"]
                if arn.startswith("arn:aws:sqs:"):
                    deliveries += [Delivery(True, consumer=f) for f in queue_consumers.get(arn, [])]
                elif ":function:" in arn:
                    deliveries.append(Delivery(False, consumer=functions[arn.rsplit(":", 1)[-1]]))
                elif arn in machines:
                    deliveries.append(Delivery(False, execution=machines[arn]))
            yield EventPattern.load(json.dumps(props["EventPattern"])), deliveries


def _execution(stacks: Stacks, service: str, logical_id: str, functions: dict[str, Function]) -> Execution:
    props = stacks.resolve(service, stacks.templates[service].resources[logical_id]["Properties"])
    definition = props.get("DefinitionString") or json.dumps(props["Definition"])
    for key, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    tasks: list[Function] = []
    transitions = _walk(json.loads(definition), lambda name: tasks.extend(_task(name, functions)))
    return Execution(stacks.physical_name(service, logical_id), transitions, tuple(tasks))


def _task(resource: str, functions: dict[str, Function]) -> list[Function]:
    name = resource.split(":function:", 1)[-1].split(":", 1)[0]
    return [functions[name]] if name in functions else []


def _walk(machine: dict[str, Any], on_task: Callable[[str], None]) -> int:
    """State transitions along the first path of a state machine (or a Parallel/Map branch)."""
    states, name, transitions, seen = machine["States"], machine["StartAt"], 0, set()
    while name and name not in seen:
        seen.add(name)
        state = states[name]
        transitions += 1
        if state["Type"] == "Task":
            resource = state["Resource"]
            if resource.startswith(LAMBDA_TASK):
                resource = str(state.get("Parameters", {}).get("FunctionName", ""))
            on_task(resource)
        elif state["Type"] == "Parallel":
            transitions += sum(_walk(branch, on_task) for branch in state["Branches"])
        elif state["Type"] == "Map":
            transitions += _walk(state.get("ItemProcessor") or state["Iterator"], on_task)
        if state["Type"] == "Choice":
            name = state["Choices"][0]["Next"] if state.get("Choices") else state.get("Default")
        else:
            name = None if state.get("End") else state.get("Next")
    return transitions


# -- usage ------------------------------------------------------------------------------------------


@dataclass
class Usage:
    """Monthly quantities, priced by ``bill``."""

    counts: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)  # by function key
    skipped: list[str] = field(default_factory=list)

    def invoke(self, function: Function, times: float, profile: Profile, *, route: str | None = None) -> None:
        """``times`` invocations of ``function``, for ``route`` (an API function) or for one record."""
        duration_ms = profile.duration_ms(route or function.key)
        units = profile.routes[route].units if route else profile.units_of(function)
        self.counts["lambda_requests"] += times
        self.invocations[function.key] += times
        billed_ms = math.ceil(duration_ms)
        self.counts[f"gb_seconds_{function.architecture}"] += (
            times * billed_ms / 1000 * function.memory_mb / 1024
        )
        self.counts["log_gb"] += times * profile.log_kb_per_invocation / 1024**2
        if function.traced:
            self.counts["traced_invocations"] += times
        self.counts["read_units"] += times * units.read_units
        if function.snap_start:
            restores = times * profile.new_environment_share
            self.counts["snapstart_restored_gb"] += restores * function.memory_mb / 1024
        self.counts["write_units"] += times * units.write_units


def usage(system: System, profile: Profile) -> Usage:
    found = Usage()
    routes = {key: traffic for key, traffic in profile.routes.items() if key in system.routes}
    found.skipped = [f"{key}: not in the packaged templates" for key in profile.routes if key not in routes]
    total_share = sum(t.share for t in routes.values())
    for key, traffic in routes.items():
        requests = profile.requests_per_month * traffic.share / total_share
        api = system.routes[key]
        found.counts["http_requests"] += requests
        found.invoke(api, requests, profile, route=key)
        messages = requests * traffic.messages
        for consumer in system.queue_consumers[api.name] if messages else []:
            found.counts["sqs_requests"] += 3 * messages
            _run(system, profile, found, consumer, messages)
        for detail_type in traffic.events:
            _publish(system, profile, found, detail_type, requests)
    for service, share in profile.storage_share.items():
        found.counts["storage_gb"] += profile.storage_gb * share
        if system.point_in_time_recovery.get(service):
            found.counts["backup_gb"] += profile.storage_gb * share
    found.counts["alarms"] = system.alarms
    found.counts["dashboards"] = system.dashboards
    snapshots = {f.name: f for f in system.routes.values() if f.snap_start}.values()
    found.counts["snapstart_cache_gb_seconds"] = sum(
        profile.snapstart_versions * f.memory_mb / 1024 * SECONDS_PER_MONTH for f in snapshots
    )
    return found


def _run(system: System, profile: Profile, found: Usage, function: Function, times: float) -> None:
    """``times`` invocations of ``function`` for one record each, with the executions it starts."""
    found.invoke(function, times, profile)
    for execution in system.executions[function.name]:
        _execute(profile, found, execution, times)


def _execute(profile: Profile, found: Usage, execution: Execution, times: float) -> None:
    found.counts["transitions"] += times * execution.transitions
    for task in execution.tasks:
        found.invoke(task, times, profile)


def _stream_records(profile: Profile, detail_type: str) -> list[dict[str, Any]]:
    """What the source table's stream carries for one event: its outbox item and the change itself."""
    outbox = {"PK": {"S": "OUTBOX#event"}, "SK": {"S": "EVENT"}, "detail_type": {"S": detail_type}}
    records = [{"eventName": "INSERT", "dynamodb": {"Keys": outbox, "NewImage": outbox}}]
    change = dict(profile.changes.get(detail_type, {}))
    if change:
        event_name = change.pop("eventName")
        image = {name: {"S": str(value)} for name, value in change.items()}
        records.append({"eventName": event_name, "dynamodb": {"NewImage": image}})
    return records


def _publish(system: System, profile: Profile, found: Usage, detail_type: str, times: float) -> None:
    service = _source(detail_type).split(".", 1)[1]
    for record in _stream_records(profile, detail_type):
        for filters, consumer in system.stream_consumers.get(service, []):
            if not filters or any(pattern.matches_event(record) for pattern in filters):
                _run(system, profile, found, consumer, times)
    found.counts["events"] += times
    for delivery in system.deliveries(detail_type):
        if delivery.via_queue:
            found.counts["sqs_requests"] += 3 * times
        if delivery.consumer:
            _run(system, profile, found, delivery.consumer, times)
            if delivery.consumer.sends_email:
                found.counts["emails"] += times * profile.emails.get(detail_type, 0)
        if delivery.execution:
            _execute(profile, found, delivery.execution, times)


# -- prices -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit: str
    unit_price: str
    monthly: float
    in_reference: bool  # within the scope of the reference estimate (Lambda, HTTP API, DynamoDB, logs)


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def _sampled_traces(invocations: float, xray: dict[str, Any]) -> float:
    reservoir = xray["sampling_reservoir_per_second"] * SECONDS_PER_MONTH
    first = min(invocations, reservoir)
    return first + xray["sampling_rate"] * (invocations - first)


def bill(found: Usage, prices: dict[str, Any]) -> list[Line]:
    c, lam, ddb, xray = found.counts, prices["lambda"], prices["dynamodb"], prices["xray"]
    c["sampled_traces"] = _sampled_traces(c["traced_invocations"], xray)
    c["billed_dashboards"] = max(0, c["dashboards"] - prices["cloudwatch"]["free_dashboards"])
    # (item, quantity key, unit, price, units priced, in the reference estimate's scope)
    rows = [("Lambda requests", "lambda_requests", "requests", lam["requests_per_million"], 1e6, True)]
    rows += [
        (f"Lambda compute {arch}", f"gb_seconds_{arch}", "GB-s", price, 1, True)
        for arch, price in lam["gb_second"].items()
    ]
    rows += [
        (
            "Lambda SnapStart cache",
            "snapstart_cache_gb_seconds",
            "GB-s",
            lam["snapstart_cache_gb_second"],
            1,
            True,
        ),
        ("Lambda SnapStart restores", "snapstart_restored_gb", "GB", lam["snapstart_restore_gb"], 1, True),
        ("HTTP API", "http_requests", "requests", prices["http_api"]["requests_per_million"], 1e6, True),
        ("DynamoDB writes", "write_units", "write units", ddb["write_units_per_million"], 1e6, True),
        ("DynamoDB reads", "read_units", "read units", ddb["read_units_per_million"], 1e6, True),
        ("DynamoDB storage", "storage_gb", "GB-month", ddb["storage_gb_month"], 1, True),
        (
            "DynamoDB backups (PITR)",
            "backup_gb",
            "GB-month",
            ddb["point_in_time_recovery_gb_month"],
            1,
            False,
        ),
        (
            "EventBridge events",
            "events",
            "events",
            prices["eventbridge"]["custom_events_per_million"],
            1e6,
            False,
        ),
        ("SQS requests", "sqs_requests", "requests", prices["sqs"]["requests_per_million"], 1e6, False),
        (
            "Step Functions",
            "transitions",
            "transitions",
            prices["step_functions"]["standard_transitions_per_thousand"],
            1e3,
            False,
        ),
        ("SES", "emails", "e-mails", prices["ses"]["emails_per_thousand"], 1e3, False),
        ("CloudWatch Logs", "log_gb", "GB", prices["cloudwatch_logs"]["ingestion_gb"], 1, True),
        ("CloudWatch alarms", "alarms", "alarm-months", prices["cloudwatch"]["alarm_month"], 1, False),
        (
            "CloudWatch dashboards",
            "billed_dashboards",
            "dashboard-months",
            prices["cloudwatch"]["dashboard_month"],
            1,
            False,
        ),
        (
            "X-Ray (sampled traces)",
            "sampled_traces",
            "traces",
            xray["traces_recorded_per_million"],
            1e6,
            False,
        ),
    ]
    per = {1: "", 1e3: "/k", 1e6: "/M"}
    return [
        Line(item, c[key], unit, f"${_price(price)}{per[scale]}", c[key] / scale * price, in_reference)
        for item, key, unit, price, scale, in_reference in rows
    ]


def serverless_only(system: System, profile: Profile, prices: dict[str, Any]) -> float:
    """The monthly cost a server-based setup would not have (it sends the same e-mails)."""
    return sum(line.monthly for line in bill(usage(system, profile), prices) if line.item not in PAID_BY_BOTH)


# -- the server-based alternative -------------------------------------------------------------------


def instance_setup(profile: Profile, prices: dict[str, Any], pricing: str) -> dict[str, float]:
    """Monthly cost of the instance setup sized for the profile's peak, by component."""
    setup, hours = prices["instances"], prices["instances"]["hours_per_month"]
    peak_rps = profile.requests_per_month / SECONDS_PER_MONTH * profile.peak_to_average
    servers = max(setup["app_servers_min"], math.ceil(peak_rps / setup["app_server_requests_per_second"]))
    average_lcu = (
        profile.requests_per_month / SECONDS_PER_MONTH / setup["load_balancer_requests_per_second_per_lcu"]
    )
    return {
        f"{servers} app servers": servers * setup["app_server_hourly"][pricing] * hours,
        "load balancer": (setup["load_balancer_hourly"] + average_lcu * setup["load_balancer_lcu_hourly"])
        * hours,
        "database": setup["database_hourly"][pricing] * hours,
        "database storage": profile.storage_gb * setup["database_storage_gb_month"],
    }


def break_even(system: System, profile: Profile, prices: dict[str, Any], pricing: str) -> float | None:
    """Requests a month above which the instance setup costs less; 0 when it always does, None when
    it never does below 100 billion."""

    def serverless_dearer(requests: float) -> bool:
        scaled = replace(profile, requests_per_month=requests)
        return serverless_only(system, scaled, prices) > sum(instance_setup(scaled, prices, pricing).values())

    low, high = 0.0, 1e6
    if serverless_dearer(low):
        return 0.0
    while not serverless_dearer(high):
        low, high = high, high * 2
        if high > 1e11:
            return None
    while high - low > max(1e4, low * 1e-3):
        middle = (low + high) / 2
        low, high = (low, middle) if serverless_dearer(middle) else (middle, high)
    return high


# -- report -----------------------------------------------------------------------------------------


def _price(value: float) -> str:
    return f"{value:.10f}".rstrip("0").rstrip(".")


def _quantity(value: float) -> str:
    for size, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if value >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.2f}"


def render(system: System, profile: Profile, prices: dict[str, Any]) -> str:
    found = usage(system, profile)
    lines = bill(found, prices)
    total = sum(line.monthly for line in lines)
    in_scope = sum(line.monthly for line in lines if line.in_reference)
    out = [
        f"Monthly AWS cost: {profile.requests_per_month:,.0f} requests, {profile.storage_gb:,.0f} GB of data "
        f"({prices['region']}, {PRICES.name}, {TRAFFIC.name})",
        "",
        f"{'item':30} {'quantity':>12} {'unit':12} {'price':>14} {'$/month':>10}",
    ]
    for line in (line for line in lines if line.quantity):
        quantity = _quantity(line.quantity)
        out.append(
            f"{line.item:30} {quantity:>12} {line.unit:12} {line.unit_price:>14} {line.monthly:>10,.2f}"
        )
    out += [
        f"{'total':30} {'':>12} {'':12} {'':>14} {total:>10,.2f}",
        "",
        f"Reference estimate for this load (Lambda, HTTP API, DynamoDB, logs): ${REFERENCE_MONTHLY:,.0f}; "
        f"the same scope here: ${in_scope:,.2f} ({in_scope / REFERENCE_MONTHLY:.2f} times)",
    ]
    out += [f"skipped: {reason}" for reason in found.skipped]
    out += [
        "",
        "Per route: what one request touches, and its cost per million "
        "(without storage, alarms, dashboards, X-Ray and the SnapStart cache)",
    ]
    out.append(f"{'route':32} {'$/M':>7}  functions invoked per request")
    for key, traffic in profile.routes.items():
        if key not in system.routes:
            continue
        alone = replace(profile, requests_per_month=1e6, storage_gb=0, routes={key: traffic})
        one = usage(replace(system, alarms=0, dashboards=0), alone)
        lines = bill(one, prices)
        dollars = sum(line.monthly for line in lines if line.item not in PER_MONTH_NOT_PER_REQUEST)
        touched = ", ".join(
            f"{name}" + (f" x{n / 1e6:g}" if n != 1e6 else "") for name, n in one.invocations.items()
        )
        out.append(f"{key:32} {dollars:>7.2f}  {touched}")
    out += [
        "",
        f"Server-based alternative (e-mails cost the same there): {prices['instances']['description']}",
    ]
    for pricing in ("on_demand", "reserved"):
        setup = instance_setup(profile, prices, pricing)
        parts = ", ".join(f"{name} ${value:,.2f}" for name, value in setup.items())
        out.append(f"  {pricing.replace('_', ' '):9} ${sum(setup.values()):>8,.2f}/month ({parts})")
        for label, scenario in (
            ("data included", profile),
            ("data left out", replace(profile, storage_gb=0)),
        ):
            out.append(f"    {label}: {_break_even_text(break_even(system, scenario, prices, pricing))}")
    return "\n".join(out)


def _break_even_text(point: float | None) -> str:
    if point is None:
        return "serverless costs less up to 100 G requests/month"
    if point == 0:
        return "the servers cost less at any volume"
    return f"serverless costs less below {_quantity(point)} requests/month"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=float, help="requests a month (default: the profile's)")
    parser.add_argument("--storage-gb", type=float, help="data stored (default: the profile's)")
    parser.add_argument("--traffic", type=Path, default=TRAFFIC, help="traffic profile (TOML)")
    parser.add_argument(
        "--stage", default="prod", help="the stage whose templates are priced (default prod: SnapStart on)"
    )
    parser.add_argument(
        "--durations", type=Path, help="JSON {route key or <service>.<function>: ms}, as `make bench` writes"
    )
    args = parser.parse_args()
    profile = Profile.load(args.traffic)
    if args.requests:
        profile = replace(profile, requests_per_month=args.requests)
    if args.storage_gb is not None:
        profile = replace(profile, storage_gb=args.storage_gb)
    if args.durations:
        profile = replace(profile, durations_ms=json.loads(args.durations.read_text()))
    # Any sender: it changes nothing the bill counts, and a stage that deploys must name one.
    sender = {"senderEmail": "notifications@shop.example"}
    packaged = package_stage(args.stage, ROOT / ".cache" / "stages" / args.stage, params=sender)
    print(render(System.from_stacks(Stacks(stage=args.stage, packaged=packaged)), profile, load_prices()))


if __name__ == "__main__":
    main()
