"""Ctrl-C (SIGINT) and SIGTERM stop every process of the stack within 3 s, idle or under load."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from devtools.emulator.jwt_local import SigningKey, token_for
from devtools.template import Stacks
from tests.e2e.local_stack import LocalStack, kill, session_alive, start, wait_until

pytestmark = pytest.mark.e2e

STOP_WITHIN = 3.0  # seconds
ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 1, "unit_price": "9.99"}],
    "currency": "EUR",
    "payment_token": "tok_flaky",  # a state machine execution still retrying when the signal lands
}


def _stop(stack: LocalStack, signum: int) -> float:
    """Seconds from ``signum`` to the exit of every process of the stack's session."""
    sent = time.monotonic()
    stack.process.send_signal(signum)

    def gone() -> bool:  # the stack reaped (a zombie still counts in its group), then the rest
        return stack.process.poll() is not None and not session_alive(stack.process)

    try:
        wait_until(gone, STOP_WITHIN + 2, "the stack to exit", 0.02)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; {_session(stack)}\n{stack.log_text()[-3000:]}") from None
    finally:
        kill(stack.process)
    return time.monotonic() - sent


def _session(stack: LocalStack) -> str:
    """The processes left in the stack's session, with their state, for a failure's message."""
    listing = subprocess.run(  # noqa: S603 - ps on our own child
        ["ps", "-s", str(stack.process.pid), "-o", "pid,stat,wchan:20,etime,args"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return f"left in its session:\n{listing.stdout}"


def _load(stack: LocalStack, stop: threading.Event, statuses: list[int]) -> None:
    """A client creating users and placing orders until ``stop``."""
    user = f"load-{threading.get_ident()}"
    token = token_for(Stacks(), SigningKey.load_or_create(stack.state_dir), user)
    try:
        stack.request("POST", "/users", token=token, body={"email": f"{user}@example.com", "name": "Load"})
        while not stop.is_set():
            statuses.append(stack.request("POST", "/orders", token=token, body=ORDER).status)
    except OSError:
        return  # the stack went away under us: what this test is about


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_idle_stack_stops_within_3_s(tmp_path: Path, signum: int) -> None:
    stack = start(tmp_path)
    announced = tmp_path / "endpoints.json"  # where invoke local finds a running stack
    assert announced.exists()

    stopped = _stop(stack, signum)

    assert stopped < STOP_WITHIN, stack.log_text()[-3000:]
    assert not announced.exists()
    assert stack.process.returncode == 0, stack.log_text()[-3000:]
    assert stack.log_text().rstrip().endswith("Local stack stopped.")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_a_stack_under_load_stops_within_3_s(tmp_path: Path, signum: int) -> None:
    stack = start(tmp_path)
    stop, statuses = threading.Event(), []
    clients = [threading.Thread(target=_load, args=(stack, stop, statuses)) for _ in range(8)]
    for client in clients:
        client.start()
    try:
        wait_until(lambda: len(statuses) >= 10, 30, "the load to be under way", 0.05)

        stopped = _stop(stack, signum)
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert stopped < STOP_WITHIN, stack.log_text()[-3000:]
    assert stack.process.returncode == 0, stack.log_text()[-3000:]
    assert "Local stack stopped." in stack.log_text()
