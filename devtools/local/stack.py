"""The whole system on one machine, without an AWS account or Docker: ``python -m devtools.local.stack``
(``make dev``).

- An AWS endpoint (``devtools.local.aws_endpoint``: moto in server mode) on ``127.0.0.1:$AWS_PORT``
  holding every table, queue, bus, rule and state machine of the packaged templates, in a process
  of its own (forked from this one at start, killed by the kernel if this one dies).
- One HTTP gateway on ``127.0.0.1:$API_PORT`` for every service's routes (``devtools.local.gateway``).
- Hot reload (``devtools.local.reload``): an edit to a function's code retires its workers; an
  edit to a service's ``serverless.yml`` packages it again and the stack serves what changed
  (``devtools.local.definitions``).
- The plumbing (``devtools.emulator.plumbing``) pumping streams and queues into the functions (a
  poller per event source mapping, ``devtools.local.pollers``); the bus tap
  (``devtools.local.bus_tap``) logging every event with the consumers it reached; Lambda's Invoke
  API on a loopback port
  (``devtools.local.invoke_api``), which the AWS endpoint's process forwards moto's Step Functions
  tasks to.
- The AWS data restored from the state directory at start and saved there after changes and at
  stop (``devtools.local.persistence``), by the AWS endpoint's process, with the pollers' stream
  positions this process sends it; ``LOCAL_STACK_FRESH=1`` (``make dev FRESH=1``) starts empty.

Each function runs in worker processes of its own, started on first use, with its own environment
variables and module state, its ``Timeout`` enforced, stopped after a few idle minutes
(``devtools.local.environments``; docs/local-stack.md, "Which process does what").
"""

from __future__ import annotations

import errno
import faulthandler
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import boto3

from devtools.emulator.apigw import Route, routes
from devtools.emulator.jwt_local import SigningKey, authorizers, state_dir
from devtools.emulator.lambda_runtime import functions
from devtools.emulator.plumbing import MOTO_CONFIG, Delivery, Plumbing
from devtools.emulator.provision import provision
from devtools.local import aws_endpoint, invoke_api, reload
from devtools.local.aws_endpoint import EndpointProcess, Serving
from devtools.local.bus_tap import BusTap
from devtools.local.definitions import Definitions, gateway_functions, verify_senders
from devtools.local.environments import ExecutionEnvironments, kill_every_worker
from devtools.local.gateway import Gateway, serve
from devtools.local.persistence import SNAPSHOT_FILE, InterruptedExecution, Restored
from devtools.local.pollers import Pollers
from devtools.template import REGION, ROOT, Stacks, TemplateError

log = logging.getLogger("devtools.local.stack")

HOST = "127.0.0.1"
SQS_RETRY_DELAY = 1  # seconds before a failed SQS message is delivered again
# Ctrl-C and SIGTERM stop everything within 3 s: the gateway's requests in flight get 1 s (up to
# GATEWAY_STOP), then the data is saved, the functions' processes are killed, the pollers' rounds
# end within what is left of SHUTDOWN_BUDGET, the AWS endpoint's process ends, and the process
# exits whatever its threads are doing. Whatever still holds the orderly stop up at
# FORCED_EXIT_AFTER (a save of a large data set; on a machine loaded 10x its cores, the AWS
# endpoint's own stop was seen to take a second more) is cut short by a watchdog, which leaves the
# rest of the 3 s to the exit itself: a save cut short leaves the previous snapshot.
GATEWAY_STOP = 1.0
SHUTDOWN_BUDGET = 1.6
FORCED_EXIT_AFTER = 2.2
SIGNAL_POLL = 0.1  # seconds
CHECKPOINT_POLL = 0.25  # seconds between two looks at whether the pollers' positions moved
WARM_WAIT = 20.0  # seconds the start waits for the routes' functions to have a worker
STOPPED = "Local stack stopped."
CONCURRENCY = 4  # invocations of one function at once (LOCAL_CONCURRENCY); more wait
IDLE_EXIT = 300.0  # seconds a worker may stay idle before it is stopped (LOCAL_IDLE_EXIT)
ENDPOINTS_FILE = "endpoints.json"  # in the state directory while the stack runs: its two URLs


@dataclass(frozen=True)
class Endpoints:
    api_port: int
    aws_port: int

    @classmethod
    def from_environment(cls) -> Endpoints:
        return cls(int(os.environ.get("API_PORT", 3000)), int(os.environ.get("AWS_PORT", 4566)))

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def aws(self) -> str:
        return f"http://{HOST}:{self.aws_port}"


def aws_environment(endpoints: Endpoints) -> dict[str, str]:
    """What every SDK call in this process (and ``invoke local`` next to it) needs to reach moto."""
    return {
        "AWS_ENDPOINT_URL": endpoints.aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # boto3 1.44 sends DynamoDB Streams calls to an account-based host moto does not know.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def _prepare_process_environment(endpoints: Endpoints) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)  # nothing in this process may reach a real account
    os.environ.update(aws_environment(endpoints))
    # moto's Step Functions engine (in the AWS endpoint's process) calls Lambda on localhost:$MOTO_PORT.
    os.environ["MOTO_PORT"] = str(endpoints.aws_port)


def function_base_environment(endpoints: Endpoints) -> dict[str, str]:
    """What every function's process gets besides its own variables: the AWS endpoint, and
    Powertools' tracer and metrics off unless the stack's environment says otherwise (without
    X-Ray and CloudWatch, their output is noise in the stack's log)."""
    return aws_environment(endpoints) | {
        name: os.environ.get(name, "true")
        for name in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED")
    }


def _configure_logging() -> None:
    class ShortNames(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            record.name = record.name.removeprefix("devtools.")
            return super().format(record)

    def not_printed_yet(record: logging.LogRecord) -> bool:
        # Powertools loggers print their own JSON lines and propagate too: print those once.
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if logger.handlers:
                return False
            logger = logger.parent if logger.propagate else None
        return True

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ShortNames("%(asctime)s.%(msecs)03d %(name)-8s %(message)s", "%H:%M:%S"))
    handler.addFilter(not_printed_yet)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's endpoint logs every AWS call


def _announce(endpoints: Endpoints) -> Path:
    """Write where this stack answers for ``invoke local`` (tools/osls-python-bundle) to find it;
    written whole (a temporary file renamed), so a reader never sees half of it."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ENDPOINTS_FILE
    with tempfile.NamedTemporaryFile("w", dir=directory, prefix=".endpoints-", delete=False) as draft:
        json.dump({"api": endpoints.api, "aws": endpoints.aws}, draft)
    os.replace(draft.name, path)
    return path


def _log_delivery(delivery: Delivery) -> None:
    outcome = f"{delivery.failed} failed" if delivery.failed else "ok"
    if delivery.error:
        outcome = f"raised {delivery.error}"
    logging.getLogger("devtools.emulator.plumbing").info(
        "%s → %s: %d record(s), %s", delivery.source, delivery.function, delivery.records, outcome
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _data(path: Path, restored: Restored | None, fresh: bool) -> str:
    """The banner's line about the data."""
    kept = f"kept in {_shown(path.parent)}/ across restarts"
    if fresh:
        return f"empty (FRESH=1), {kept}"
    if restored is None:
        return f"empty, {kept}; make dev FRESH=1 starts empty"
    when = restored.saved_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"restored from {_shown(path)} (saved {when}), {kept}; make dev FRESH=1 starts empty"


def _restart(states: Any, interrupted: list[InterruptedExecution]) -> None:
    """Start again, from their first state, the executions a stop interrupted."""
    for execution in interrupted:
        try:
            states.start_execution(
                stateMachineArn=execution.state_machine_arn, name=execution.name, input=execution.input
            )
        except Exception:
            log.exception("could not start %s of %s again", execution.name, execution.state_machine_arn)
        else:
            log.info(
                "execution %s of %s was running at the last stop: started again from its first state",
                execution.name,
                execution.state_machine_arn.rsplit(":", 1)[-1],
            )


def _save_at_stop(aws: EndpointProcess, checkpoint: dict[str, Any], path: Path) -> None:
    began = time.perf_counter()
    try:
        written = aws.save(checkpoint)
    except (OSError, RuntimeError) as error:
        log.error("data not saved (%s): %s keeps the last save", error, _shown(path))
        return
    if written:
        log.info("data saved to %s in %.0f ms", _shown(path), (time.perf_counter() - began) * 1000)
    elif written is None:
        log.error("data not saved: %s keeps the last save", _shown(path))
    else:
        log.info("data in %s up to date", _shown(path))


def _send_checkpoints(aws: EndpointProcess, pollers: Pollers, stop: threading.Event) -> None:
    """The pollers' stream positions to the AWS endpoint's process as they move, for its saves."""
    while not stop.wait(CHECKPOINT_POLL):
        try:
            aws.checkpoint(pollers.checkpoint())
        except OSError:
            log.error("the AWS endpoint's process is gone: nothing more is saved")
            return


def _stop_if_gone(aws: EndpointProcess, stop: threading.Event, lost: threading.Event) -> None:
    """A stack whose AWS endpoint has ended (killed: the kernel's OOM killer picks the largest
    process) answers nothing but errors: it stops, saying why."""
    aws.wait()
    if not stop.is_set():
        log.error("the AWS endpoint's process (%d) ended: stopping the stack", aws.pid)
        lost.set()
        stop.set()
        _exit_in(FORCED_EXIT_AFTER)


def _banner(endpoints: Endpoints, routes: list[Route], elapsed: float, data: str) -> str:
    exports = " ".join(f"{k}={v}" for k, v in aws_environment(endpoints).items() if k != "AWS_REGION")
    lines = [
        f"Local stack ready in {elapsed:.1f} s (Ctrl-C stops it)",
        f"  API        {endpoints.api}",
        f"  AWS        {endpoints.aws}   (export {exports})",
        "  Token      make token USER=<id> [GROUPS=admin]",
        f"  Docs       {endpoints.api}/docs   (Swagger UI; OpenAPI documents at /openapi/<service>.json)",
        f'  Try        curl -H "Authorization: Bearer $(make token USER=alice)" {endpoints.api}/users/alice',
        f"  Data       {data}",
        "  Guide      docs/local-stack.md",
        "  Routes",
    ]
    lines += [f"    {r.route_key:<40} {r.service}{'' if r.authorizer else ' (no auth)'}" for r in routes]
    return "\n".join(lines)


def run(endpoints: Endpoints, stop: threading.Event) -> int:
    """Start everything, serve until ``stop`` is set (or the AWS endpoint's process ends), then
    shut down; returns the exit status."""
    started = time.perf_counter()
    _prepare_process_environment(endpoints)
    stacks = Stacks(sqs_endpoint=endpoints.aws)
    # Each service's package sits at the root of its zip; here, under services/<x>/src.
    sys.path[:0] = [str(ROOT / "services" / service / "src") for service in stacks.services]
    specs = functions(stacks)
    # The AWS endpoint's port is bound here, so that a port in use fails at once; its process is
    # forked before this one starts a thread (a fork copies the calling thread only, and a lock
    # another thread held would stay held in the child for good).
    snapshot = state_dir() / SNAPSHOT_FILE
    fresh = os.environ.get("LOCAL_STACK_FRESH", "") not in ("", "0")
    invocations = socket.create_server((HOST, 0))  # for the Invoke API the endpoint forwards to
    aws = EndpointProcess.fork(
        Serving(
            stacks,
            socket.create_server((HOST, endpoints.aws_port)),
            MOTO_CONFIG,
            ("{}:{}".format(*invocations.getsockname()), frozenset(specs)),
            snapshot,
            fresh,
        )
    )
    session = boto3.Session()
    environments = ExecutionEnvironments(
        specs,
        function_base_environment(endpoints),
        concurrency=int(os.environ.get("LOCAL_CONCURRENCY", CONCURRENCY)),
        idle_exit=float(os.environ.get("LOCAL_IDLE_EXIT", IDLE_EXIT)),
    )
    plumbing = Plumbing(
        stacks,
        session,
        endpoints.aws,
        retry_delay=SQS_RETRY_DELAY,
        on_delivery=_log_delivery,
        invoker=environments.invoke,
    )
    invoke_api.serve(invocations, plumbing)
    route_table = routes(stacks)
    gateway = Gateway(
        routes=route_table,
        authorizers=authorizers(stacks),
        key=SigningKey.load_or_create(),
        invoke=plumbing.invoke,
        function_names=gateway_functions(plumbing.specs),
    )
    # Workers for the functions behind routes start now, beside the AWS endpoint's start, and the
    # stack is ready once they are up: a request then seldom waits for a cold start (seconds on a
    # busy laptop). The other functions' workers start after them, in the background.
    routed = {gateway.function_names[(route.service, route.function)] for route in route_table}
    routes_warm = threading.Event()

    def warm_up() -> None:
        routes = [threading.Thread(target=environments.warm, args=([name],)) for name in routed]
        for thread in routes:
            thread.start()
        for thread in routes:
            thread.join()
        routes_warm.set()
        environments.warm(set(specs) - routed)

    threading.Thread(target=warm_up, name="warm", daemon=True).start()
    http = serve(gateway, HOST, endpoints.api_port)  # answers 503 on /health until ready
    pollers = Pollers(stop, environments.invoke)
    restored = aws.started()  # before provisioning, which keeps what exists
    lost = threading.Event()
    threading.Thread(target=_stop_if_gone, args=(aws, stop, lost), name="aws-watch", daemon=True).start()
    provision(stacks, session, endpoint_url=endpoints.aws)
    verify_senders(plumbing.client("ses"), plumbing.specs)
    tap = BusTap(
        stacks, plumbing.client("sqs"), plumbing.client("events"), plumbing.mappings, plumbing.invoke
    )
    definitions = Definitions(
        stacks,
        root=ROOT,
        session=session,
        endpoint_url=endpoints.aws,
        plumbing=plumbing,
        environments=environments,
        gateway=gateway,
        tap=tap,
        pollers=pollers,
        endpoint=aws,
    )
    tap.install()
    if restored:
        _restart(plumbing.client("stepfunctions"), restored.interrupted)
    pollers.add("bus-tap", tap.pump)
    pollers.sync(plumbing, restored.plumbing if restored else None)
    # Saves begin with the pollers' first positions.
    aws.checkpoint(pollers.checkpoint())
    threading.Thread(
        target=_send_checkpoints, args=(aws, pollers, stop), name="checkpoint", daemon=True
    ).start()
    threading.Thread(
        target=reload.watch,
        args=(ROOT, lambda: plumbing.specs, environments.retire, stop),
        name="reload",
        daemon=True,
    ).start()
    threading.Thread(
        target=reload.watch_definitions,
        args=(ROOT, stacks.services, definitions.reload, stop),
        name="reload-definitions",
        daemon=True,
    ).start()
    routes_warm.wait(WARM_WAIT)
    announced = _announce(endpoints)
    data = _data(snapshot, restored, fresh)
    print(_banner(endpoints, route_table, time.perf_counter() - started, data), flush=True)
    gateway.ready.set()  # after the banner: whoever sees /health answer 200 finds it in the log
    # A timed wait: the signal handler runs in this thread, and only when it runs Python code (a
    # signal the kernel hands to another thread does not wake an untimed wait: seen, 1 stop in 10
    # under load never began).
    while not stop.wait(SIGNAL_POLL):
        pass
    announced.unlink(missing_ok=True)
    definitions.stop()
    deadline = time.monotonic() + SHUTDOWN_BUDGET
    http.shutdown(timeout=GATEWAY_STOP)
    # Saved while the functions still run: a state machine execution then is still running in the
    # snapshot (and is started again at the next start); once the functions are gone, its task
    # fails and it would be saved as failed, its order left PENDING for good.
    _save_at_stop(aws, pollers.checkpoint(), snapshot)
    # The functions go, and with them whatever the plumbing's round was waiting for (what it had
    # not delivered is delivered again next time, after a restart too, as Lambda retries).
    environments.stop()
    pollers.join(deadline)
    aws.stop()
    return 1 if lost.is_set() else 0


def _exit_now(code: int) -> NoReturn:
    """Exit without joining the threads left: the gateway's workers and moto's state machine
    executions may be blocked in a handler, and the interpreter would wait for them at exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_in(seconds: float) -> None:
    """Exit ``seconds`` from now whatever the orderly stop is doing: ``os.write`` and ``os._exit``
    only, since the thread holding it up may hold the logging or stdout locks."""

    def force() -> None:
        aws_endpoint.kill_process()
        kill_every_worker()
        os.write(
            sys.stdout.fileno(),
            f"Orderly stop still running after {seconds} s: cut short.\n{STOPPED}\n".encode(),
        )
        os._exit(0)

    watchdog = threading.Timer(seconds, force)
    watchdog.daemon = True
    watchdog.start()


def main() -> None:
    _configure_logging()
    # `kill -USR1 <pid>` prints every thread's stack to the log, without stopping the stack.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    endpoints = Endpoints.from_environment()
    stop = threading.Event()

    def on_signal(signum: int, _: Any) -> None:
        if stop.is_set():
            if signum == signal.SIGINT:  # a second Ctrl-C: do not wait for the orderly stop
                _exit_now(128 + signum)
            # A SIGTERM again is the same request: make forwards to the stack the SIGTERM its process
            # group got (``kill -- -<pgid>``, a process manager), and the stop bounds itself anyway.
            return
        stop.set()
        _exit_in(FORCED_EXIT_AFTER)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        status = run(endpoints, stop)
    except TemplateError as error:
        sys.exit(f"error: {error}")
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            sys.exit(f"error: {error.strerror}: is another `make dev` running? Set API_PORT / AWS_PORT.")
        raise
    print(STOPPED, flush=True)
    _exit_now(status)


if __name__ == "__main__":
    main()
