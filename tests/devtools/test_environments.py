"""Each function runs in worker processes of its own (``devtools.local.environments``): its own
environment and module state, up to a cap of invocations at once, killed at its ``Timeout``,
stopped when idle, started afresh after a reload."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.emulator.lambda_runtime import FunctionError, FunctionSpec, functions
from devtools.local.environments import ExecutionEnvironments
from devtools.template import ROOT, Stacks

# Where no AWS endpoint answers: nothing here may reach one, let alone a real account.
NO_AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
PROBE = """
import os
import time

calls = 0


def handler(event, context):
    global calls
    calls += 1
    if event.get("raise"):
        raise LookupError(event["raise"])
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "calls": calls, "build": "one", "variables": dict(os.environ)}
"""


def _spec(name: str, code: Path, *, timeout: int = 5, **environment: str) -> FunctionSpec:
    return FunctionSpec(
        service="users",
        logical_id=name,
        name=name,
        handler="probe.handler",
        # The probe is not in a service's code: its folder goes on the path instead.
        environment={"PYTHONPATH": f"{code}{os.pathsep}{ROOT}", **environment},
        memory=128,
        timeout=timeout,
    )


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


@pytest.fixture
def environments(code: Path) -> Iterator[ExecutionEnvironments]:
    specs = {
        "a": _spec("a", code, COLOUR="red"),
        "b": _spec("b", code, COLOUR="blue"),
        "short": _spec("short", code, timeout=1),
    }
    running = ExecutionEnvironments(specs, NO_AWS, concurrency=2, idle_exit=60)
    yield running
    running.stop()


def test_each_function_runs_in_its_own_process_with_only_its_variables(
    environments: ExecutionEnvironments, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_ONLY", "not for functions")

    a, b = environments.invoke("a", {}), environments.invoke("b", {})

    assert a["pid"] != b["pid"] != os.getpid()
    assert (a["variables"]["COLOUR"], b["variables"]["COLOUR"]) == ("red", "blue")
    assert a["variables"]["AWS_LAMBDA_FUNCTION_NAME"] == "a"
    assert a["variables"]["AWS_ENDPOINT_URL"] == NO_AWS["AWS_ENDPOINT_URL"]
    assert "STACK_ONLY" not in a["variables"]


def test_a_warm_worker_keeps_its_module_state_and_survives_a_handler_error(
    environments: ExecutionEnvironments,
) -> None:
    first = environments.invoke("a", {})
    with pytest.raises(FunctionError) as raised:
        environments.invoke("a", {"raise": "no such thing"})
    second = environments.invoke("a", {})

    assert (raised.value.error_type, raised.value.message) == ("LookupError", "no such thing")
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 2


def test_an_invocation_over_the_timeout_is_killed_and_the_next_gets_a_fresh_worker(
    environments: ExecutionEnvironments,
) -> None:
    warm = environments.invoke("short", {})
    started = time.monotonic()

    with pytest.raises(FunctionError) as raised:
        environments.invoke("short", {"sleep": 30})

    assert 1 <= time.monotonic() - started < 5
    assert raised.value.error_type == "Sandbox.Timedout"
    assert raised.value.message == "Task timed out after 1.00 seconds"
    assert not Path(f"/proc/{warm['pid']}").exists()
    fresh = environments.invoke("short", {})
    assert (fresh["calls"], fresh["pid"] != warm["pid"]) == (1, True)


def test_a_function_runs_up_to_the_cap_at_once_and_other_functions_never_wait(
    environments: ExecutionEnvironments,
) -> None:
    for name in ("a", "b"):  # workers started: init is not what is measured
        environments.invoke(name, {})
    durations: dict[str, float] = {}
    started = time.monotonic()  # one origin for all: the third waits for the first to end

    def timed(key: str, name: str) -> None:
        environments.invoke(name, {"sleep": 1})
        durations[key] = time.monotonic() - started

    threads = [threading.Thread(target=timed, args=(f"a{n}", "a")) for n in range(3)]
    threads.append(threading.Thread(target=timed, args=("b", "b")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    a = sorted(durations[f"a{n}"] for n in range(3))
    assert a[0] < 2, a  # two at once (the cap)...
    assert a[-1] >= 2, a  # ...and the third after one of them
    assert durations["b"] < 2, durations  # b never waited for a


def test_idle_workers_exit(code: Path) -> None:
    environments = ExecutionEnvironments({"a": _spec("a", code)}, NO_AWS, concurrency=2, idle_exit=1)
    try:
        pid = environments.invoke("a", {})["pid"]

        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

        assert not Path(f"/proc/{pid}").exists()
        assert environments.invoke("a", {})["calls"] == 1  # a cold start again
    finally:
        environments.stop()


def test_a_retired_function_imports_its_code_again(environments: ExecutionEnvironments, code: Path) -> None:
    before = environments.invoke("a", {})
    probe = code / "probe.py"
    probe.write_text(probe.read_text().replace('"build": "one"', '"build": "two"'))

    environments.retire(["a"])

    after = environments.invoke("a", {})
    assert (before["build"], after["build"]) == ("one", "two")
    assert not Path(f"/proc/{before['pid']}").exists()


def test_redefined_functions_run_as_their_new_specs_say_from_the_next_invocation(
    environments: ExecutionEnvironments, code: Path
) -> None:
    before = environments.invoke("a", {})
    b = environments.invoke("b", {})

    environments.redefine(
        {
            "a": _spec("a", code, COLOUR="green"),
            "b": _spec("b", code, COLOUR="blue"),
            "c": _spec("c", code, COLOUR="white"),
        }
    )

    after = environments.invoke("a", {})
    assert (before["variables"]["COLOUR"], after["variables"]["COLOUR"]) == ("red", "green")
    assert not Path(f"/proc/{before['pid']}").exists()
    assert environments.invoke("b", {})["pid"] == b["pid"]  # unchanged: its warm worker serves
    assert environments.invoke("c", {})["variables"]["COLOUR"] == "white"
    with pytest.raises(KeyError):
        environments.invoke("short", {})  # removed


def test_every_log_line_names_the_service_of_its_function(capfd: pytest.CaptureFixture[str]) -> None:
    """Each worker builds its own Powertools Logger, under its own function's variables."""
    specs = functions(Stacks())
    names = ("shop-users-dev-publish-events", "shop-orders-dev-publish-events")
    running = ExecutionEnvironments({n: specs[n] for n in names}, NO_AWS, concurrency=1, idle_exit=60)
    try:
        for name in names * 2:
            running.invoke(name, {"Records": []})
    finally:
        running.stop()

    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["function_name"], line["service"]) for line in lines] == [
        ("shop-users-dev-publish-events", "users"),
        ("shop-orders-dev-publish-events", "orders"),
    ] * 2
