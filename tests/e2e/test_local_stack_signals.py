"""Ctrl-C (SIGINT) and SIGTERM stop every process of the stack within 3 s, idle or under load."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from tests.e2e.local_stack import LocalStack, start, stop_every_process, wait_until

pytestmark = pytest.mark.e2e

STOP_WITHIN = 3.0  # seconds
ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 1, "unit_price": "9.99"}],
    "currency": "EUR",
    "payment_token": "tok_flaky",  # a state machine execution still retrying when the signal lands
}


def _load(stack: LocalStack, stop: threading.Event, statuses: list[int]) -> None:
    """A client creating users and placing orders until ``stop``."""
    user = f"load-{threading.get_ident()}"
    token = stack.minted_token(user)
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

    stopped = stop_every_process(stack, signum, STOP_WITHIN)

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

        stopped = stop_every_process(stack, signum, STOP_WITHIN)
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert stopped < STOP_WITHIN, stack.log_text()[-3000:]
    assert stack.process.returncode == 0, stack.log_text()[-3000:]
    assert "Local stack stopped." in stack.log_text()
