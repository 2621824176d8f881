"""A service's definition reloaded into the running stack: an edit to its ``serverless.yml`` (to its
``resources/``, or to the shared blocks of ``serverless/`` that every ``serverless.yml`` includes)
is served without a restart, with every table, queue and execution kept.

``devtools.local.reload`` hands the services whose definition changed to ``Definitions.reload``:

1. Each is packaged again as ``make package`` packages it (``osls package --stage dev`` in its
   folder, side by side). One that fails (invalid YAML, a variable that does not resolve) keeps
   its previous definition: the log shows the framework's error.
2. The new templates are read, the other services' kept, and compared with those served
   (``changes``): the log says what was repackaged and what changed.
3. What changed is applied (``Definitions.apply``): provisioning creates the new tables, queues,
   buses, rules and state machines and updates the changed ones where that can be done in place
   (``devtools.emulator.provision`` logs what cannot, which needs ``make dev FRESH=1``); a rule
   gone from the templates is deleted, a table, queue, bus or state machine gone is kept with its
   data; the functions' workers take the new specs (a changed function's next invocation starts a
   fresh worker with its new handler, environment, memory and timeout); the gateway serves the new
   routes and authorizers; the pollers follow the event source mappings, the bus tap the rules;
   and the AWS endpoint's process is sent the new templates, for its CloudFormation reads and the
   invocations it forwards (``EndpointProcess.redefine``).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from devtools.emulator.apigw import routes
from devtools.emulator.jwt_local import authorizers
from devtools.emulator.lambda_runtime import FunctionSpec, functions
from devtools.emulator.plumbing import Plumbing, event_source_mappings
from devtools.emulator.provision import delete_rules_gone, provision
from devtools.local.aws_endpoint import EndpointProcess
from devtools.local.bus_tap import BusTap
from devtools.local.environments import ExecutionEnvironments
from devtools.local.gateway import Gateway
from devtools.local.pollers import Pollers, mapping_settings
from devtools.template import Stacks, TemplateError, load_template

log = logging.getLogger("devtools.local.reload")

_EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The resources the AWS endpoint holds (devtools.emulator.provision), as the log names them.
_PROVISIONED = {
    "AWS::DynamoDB::Table": "table",
    "AWS::SQS::Queue": "queue",
    "AWS::Events::EventBus": "bus",
    "AWS::Events::Rule": "rule",
    "AWS::StepFunctions::StateMachine": "state machine",
}
_KEPT = "kept in the AWS endpoint with its data (make dev FRESH=1 drops it)"


def verify_senders(ses: Any, specs: dict[str, FunctionSpec]) -> None:
    """SES identities are verified outside CloudFormation; locally, every e-mail address a
    function's environment names is one."""
    for spec in specs.values():
        for value in spec.environment.values():
            if _EMAIL_ADDRESS.match(value):
                ses.verify_email_identity(EmailAddress=value)


def gateway_functions(specs: dict[str, FunctionSpec]) -> dict[tuple[str, str], str]:
    """(service, logical id) -> deployed name, as ``Gateway.function_names`` takes them."""
    return {(spec.service, spec.logical_id): name for name, spec in specs.items()}


# -- what changed ---------------------------------------------------------------------------------


def _compared(old: dict[str, Any], new: dict[str, Any], changed: Callable[[str, Any, Any], str]) -> list[str]:
    """A line for each key only in ``new`` (added), only in ``old`` (removed), and in both with
    other values (``changed(key, old value, new value)``)."""
    lines = [f"{key} added" for key in new if key not in old]
    lines += [f"{key} removed" for key in old if key not in new]
    lines += [changed(key, old[key], value) for key, value in new.items() if key in old and old[key] != value]
    return lines


def _differing(old: dict[str, Any], new: dict[str, Any]) -> str:
    return ", ".join(sorted(key for key in {*old, *new} if old.get(key) != new.get(key)))


def _function_changed(key: str, old: FunctionSpec, new: FunctionSpec) -> str:
    what = [name for name in ("handler", "memory", "timeout") if getattr(old, name) != getattr(new, name)]
    if old.environment != new.environment:
        what.insert(0, f"environment ({_differing(old.environment, new.environment)})")
    return f"{key} {', '.join(what) or 'definition'} changed"


def _changed(key: str, old: Any, new: Any) -> str:
    if isinstance(old, FunctionSpec):
        return _function_changed(key, old, new)
    if key.startswith("route "):
        return f"{key} now to {new[0]}" if old[0] != new[0] else f"{key} authorizer changed"
    if isinstance(old, dict):  # a resource's properties, a mapping's settings
        return f"{key} changed ({_differing(old, new)})"
    return f"{key} changed"


def _served(stacks: Stacks) -> dict[str, dict[str, Any]]:
    """What the local stack serves from ``stacks``, by service: "function api", "route GET /x",
    "authorizer X", "sqs mapping <queue> → <function>", "table <name>"... -> its definition."""
    specs = functions(stacks)
    served: dict[str, dict[str, Any]] = {service: {} for service in stacks.services}
    for spec in specs.values():
        served[spec.service][f"function {spec.short_name}"] = spec
    for route in routes(stacks):
        served[route.service][f"route {route.route_key}"] = (route.function, route.authorizer)
    for (service, logical_id), authorizer in authorizers(stacks).items():
        served[service][f"authorizer {logical_id}"] = authorizer
    for m in event_source_mappings(stacks, specs):
        source = m.source_arn.split(":")[-1].split("/")[1 if m.kind == "dynamodb" else 0]
        key = f"{m.kind} mapping {source} → {m.function.short_name}"
        served[m.function.service][key] = mapping_settings(m)
    for service, template in stacks.templates.items():
        for logical_id, resource in template.resources.items():
            if resource["Type"] in _PROVISIONED:
                key = f"{_PROVISIONED[resource['Type']]} {stacks.physical_name(service, logical_id)}"
                served[service][key] = stacks.resolve(service, resource.get("Properties", {}))
    return served


def changes(old: Stacks, new: Stacks) -> dict[str, list[str]]:
    """What the local stack serves differently under ``new`` than under ``old``, in words, for each
    service with a difference (one service's can come from another's: an export it imports)."""
    before, after = _served(old), _served(new)
    found = {}
    for service in new.services:
        lines = [
            f"{line} from the template: {_KEPT}"
            if line.endswith(" removed") and line.split()[0] in ("table", "queue", "bus", "state")
            else line
            for line in _compared(before.get(service, {}), after[service], _changed)
        ]
        if lines:
            found[service] = lines
    return found


# -- packaging ------------------------------------------------------------------------------------


def framework_error(stdout: str, stderr: str) -> str:
    """The framework's error message in a failed ``osls package``'s output: from its ``Error:``
    line on (the rest of the output when there is none, a plugin's own failure)."""
    lines = stdout.splitlines()
    if "Error:" in (line.strip() for line in lines):
        lines = lines[[line.strip() for line in lines].index("Error:") :]
    else:
        lines += stderr.splitlines()
    return "\n".join(line for line in lines if line.strip()).strip() or "no output"


def package(
    root: Path, services: Iterable[str], stage: str, under_way: list[subprocess.Popen]
) -> dict[str, str | None]:
    """Each service packaged as ``make package`` packages it (``osls package --stage <stage>`` in its
    folder), side by side: for each, None, or the framework's error. ``under_way`` holds the
    packagings running, each the leader of a process group (the bundling it starts included)."""
    running = {
        service: subprocess.Popen(  # noqa: S603 - the project's own CLI
            [str(root / "node_modules" / ".bin" / "osls"), "package", "--stage", stage],
            cwd=root / "services" / service,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        for service in services
    }
    under_way.extend(running.values())
    outcome: dict[str, str | None] = {}
    for service, process in running.items():
        stdout, stderr = process.communicate()
        under_way.remove(process)
        if process.returncode:
            outcome[service] = framework_error(stdout, stderr)
            continue
        # make package's stamp: this service's package is up to date for the next `make dev`.
        (root / "services" / service / ".serverless" / f".packaged-{stage}").touch()
        outcome[service] = None
    return outcome


# -- applying -------------------------------------------------------------------------------------


class Definitions:
    """What the running stack serves from the templates, and every part of it that reads them."""

    def __init__(
        self,
        stacks: Stacks,
        *,
        root: Path,
        session: Any,
        endpoint_url: str,
        plumbing: Plumbing,
        environments: ExecutionEnvironments,
        gateway: Gateway,
        tap: BusTap,
        pollers: Pollers,
        endpoint: EndpointProcess,
    ) -> None:
        self.stacks = stacks
        self.root = root
        self.session = session
        self.endpoint_url = endpoint_url
        self.plumbing = plumbing
        self.environments = environments
        self.gateway = gateway
        self.tap = tap
        self.pollers = pollers
        self.endpoint = endpoint
        self.packaging: list[subprocess.Popen] = []  # under way
        self.stopped = False

    def stop(self) -> None:
        """Kill the packagings under way, the bundling they started too: the stack stops within
        its 3 s (the service is packaged again by the next ``make dev``)."""
        self.stopped = True
        for process in list(self.packaging):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def reload(self, services: Iterable[str], cause: str) -> None:
        """Package ``services`` again and serve what changed; ``cause`` (the files edited) is for
        the log."""
        if self.stopped:
            return
        began = time.perf_counter()
        services = sorted(services)
        shown = ", ".join(self.stacks.stack_name(service) for service in services)
        log.info("reload: %s changed → packaging %s", cause, shown)
        outcome = package(self.root, services, self.stacks.stage, self.packaging)
        if self.stopped:
            return
        for service, error in outcome.items():
            if error is not None:
                log.error(
                    "reload: %s → packaging %s failed; it keeps its previous definition:\n%s",
                    cause,
                    self.stacks.stack_name(service),
                    error,
                )
        packaged = [service for service, error in outcome.items() if error is None]
        if not packaged:
            return
        try:
            templates = {service: load_template(service, self.stacks.packaged) for service in packaged}
            new = self.stacks.with_templates(templates)
            found = changes(self.stacks, new)
            self.apply(new, found)
        except TemplateError as error:
            log.error("reload: %s → %s; the previous definitions are kept", cause, error)
            return
        if not found:
            summary = "nothing the local stack serves changed"
        elif len(found) == 1:
            summary = ", ".join(*found.values())
        else:
            summary = "; ".join(f"{service}: {', '.join(lines)}" for service, lines in found.items())
        log.info(
            "reload: %s → repackaged %s in %.1f s: %s",
            cause,
            ", ".join(self.stacks.stack_name(service) for service in packaged),
            time.perf_counter() - began,
            summary,
        )

    def apply(self, new: Stacks, found: dict[str, list[str]]) -> None:
        """Serve ``new`` from now on; ``found`` is what changed (``changes``)."""
        if not found:
            self.endpoint.redefine(new, self.plumbing.specs)  # its CloudFormation reads: the exports
            self.stacks = new
            return
        try:
            provision(new, self.session, endpoint_url=self.endpoint_url, services=found)
            delete_rules_gone(self.stacks, new, self.session, endpoint_url=self.endpoint_url)
        except Exception:
            log.exception("reload: provisioning failed; the functions, routes and pollers are reloaded")
        self.plumbing.redefine(new)
        self.environments.redefine(self.plumbing.specs)
        verify_senders(self.plumbing.client("ses"), self.plumbing.specs)
        # A request that matched a route just before the swap finds its function and authorizer:
        # the entries of removed routes stay (unreachable once the new routes are in).
        self.gateway.function_names = self.gateway.function_names | gateway_functions(self.plumbing.specs)
        self.gateway.authorizers = self.gateway.authorizers | authorizers(new)
        self.gateway.routes = routes(new)
        self.tap.redefine(new, self.plumbing.mappings)
        self.pollers.sync(self.plumbing)
        self.endpoint.redefine(new, self.plumbing.specs)
        self.stacks = new
