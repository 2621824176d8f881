"""The local stack keeps its data across Ctrl-C, SIGTERM and a new start, in its state directory,
and starts again the executions a stop interrupted; ``LOCAL_STACK_FRESH=1`` (``make dev FRESH=1``)
starts empty, and a snapshot that does not load is moved aside and the stack starts empty, saying
so."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.local.persistence import SNAPSHOT_FILE
from devtools.local.stack import STOPPED
from devtools.template import ROOT
from tests.e2e.local_stack import LocalStack, copy_repo, kill, running, start, wait_until

pytestmark = pytest.mark.e2e

STOP_WITHIN = 3.0  # seconds, as tests/e2e/test_local_stack_signals.py
ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


def _create_user(stack: LocalStack, user: str) -> str:
    token = stack.token(user)
    created = stack.request(
        "POST", "/users", token=token, body={"email": f"{user}@example.com", "name": "Ann"}
    )
    assert created.status == 201, created.body
    return token


def _place_order(stack: LocalStack, token: str, payment: str = "tok_ok") -> str:
    """An order placed (the first attempts may meet a 409 until the profile copy reaches orders)."""

    def placed() -> Any:
        reply = stack.request("POST", "/orders", token=token, body=ORDER | {"payment_token": payment})
        assert reply.status in (202, 409), reply.body
        return reply.body["order_id"] if reply.status == 202 else None

    return wait_until(placed, 30, "an order to be accepted", 0.5)


def _confirmed(stack: LocalStack, token: str, order_id: str) -> None:
    def done() -> bool:  # 404 until the intake queue's consumer has written the order
        reply = stack.request("GET", f"/orders/{order_id}", token=token)
        return reply.status == 200 and reply.body["status"] == "CONFIRMED"

    wait_until(done, 60, f"order {order_id} to be confirmed")


def _notified(stack: LocalStack, token: str, user: str, order_id: str) -> list[dict[str, Any]]:
    def arrived() -> list[dict[str, Any]] | None:
        notifications = stack.request("GET", f"/users/{user}/notifications", token=token).body[
            "notifications"
        ]
        # The welcome too: its consumer polls beside the orders' own, so it may come second.
        welcomed = any(n["template"] == "welcome" for n in notifications)
        ordered = any(n["values"].get("order_id") == order_id for n in notifications)
        # And each one sent: a notification is recorded ``pending`` before the mail service takes
        # it, so a list read in between would differ from the same list saved a moment later.
        sent = all(n["status"] == "sent" for n in notifications)
        return notifications if welcomed and ordered and sent else None

    return wait_until(arrived, 60, f"the welcome and the notification of order {order_id}, sent")


def _stop(stack: LocalStack, signum: int) -> float:
    sent = time.monotonic()
    stack.process.send_signal(signum)
    try:
        stack.process.wait(timeout=STOP_WITHIN + 2)
    finally:
        kill(stack.process)
    return time.monotonic() - sent


def test_users_orders_and_the_event_flow_survive_ctrl_c_and_a_restart(tmp_path: Path) -> None:
    first = start(tmp_path)
    try:
        token = _create_user(first, "ann")
        order_id = _place_order(first, token)
        _confirmed(first, token, order_id)
        notifications_before = _notified(first, token, "ann", order_id)
    finally:
        stopped = _stop(first, signal.SIGINT)
    assert stopped < STOP_WITHIN, first.log_text()[-3000:]
    assert first.process.returncode == 0, first.log_text()[-3000:]
    assert (tmp_path / SNAPSHOT_FILE).exists()
    earlier_log = len(first.log_text())

    with running(tmp_path) as again:
        log = again.log_text()[earlier_log:]
        assert f"Data       restored from {tmp_path / SNAPSHOT_FILE} (saved " in log
        user = again.request("GET", "/users/ann", token=token)
        assert (user.status, user.body["email"], user.body["version"]) == (200, "ann@example.com", 1)
        order = again.request("GET", f"/orders/{order_id}", token=token)
        assert (order.status, order.body["status"]) == (200, "CONFIRMED")
        notifications = again.request("GET", "/users/ann/notifications", token=token).body["notifications"]
        assert notifications == notifications_before

        updated = again.request("PATCH", "/users/ann", token=token, body={"name": "Ann B.", "version": 1})
        assert (updated.status, updated.body["version"]) == (200, 2), updated.body
        new_order_id = _place_order(again, token)
        _confirmed(again, token, new_order_id)
        _notified(again, token, "ann", new_order_id)
        orders = again.request("GET", "/users/ann/orders", token=token).body
        assert [o["order_id"] for o in orders["orders"]] == [new_order_id, order_id]
        assert orders["profile"]["name"] == "Ann B."  # UserUpdated reached orders' profile copy

        # The events published before the stop are not published again: the plumbing resumed each
        # stream where it was (the bus log names every event that crosses the bus).
        log = again.log_text()[earlier_log:]
        assert "shop.users UserCreated" not in log
        assert log.count("shop.orders OrderPlaced") == 1


def test_a_sigterm_to_the_whole_process_group_saves_the_data(tmp_path: Path) -> None:
    """As a process manager or ``kill -- -<pgid>`` stops it: the AWS endpoint's process gets the
    signal too, and must wait for the stack's save at stop (it once died at once, losing the
    writes since the last periodic save)."""
    first = start(tmp_path)
    try:
        token = _create_user(first, "gus")
        sent = time.monotonic()
        os.killpg(first.process.pid, signal.SIGTERM)
        first.process.wait(timeout=STOP_WITHIN + 2)
        stopped = time.monotonic() - sent
    finally:
        kill(first.process)
    log = first.log_text()
    assert stopped < STOP_WITHIN, log[-3000:]
    assert "data not saved" not in log, log[-3000:]

    with running(tmp_path) as again:
        user = again.request("GET", "/users/gus", token=token)
        assert (user.status, user.body["email"]) == (200, "gus@example.com")


def test_a_sigterm_make_forwards_again_still_saves_the_data(tmp_path: Path) -> None:
    """``make dev`` in a process group that gets a SIGTERM: make forwards it to the stack, which so
    gets two at once. The second once cut the orderly stop short, as a second Ctrl-C does: nothing
    was saved."""
    first = start(tmp_path)
    try:
        token = _create_user(first, "hal")
        os.killpg(first.process.pid, signal.SIGTERM)
        # make's, whenever it comes during the stop (two at the same instant are handled as one).
        deadline = time.monotonic() + STOP_WITHIN + 2
        while first.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(first.process.pid, signal.SIGTERM)
            time.sleep(0.01)
    finally:
        kill(first.process)
    log = first.log_text()
    assert (first.process.returncode, STOPPED in log) == (0, True), log[-3000:]

    with running(tmp_path) as again:
        user = again.request("GET", "/users/hal", token=token)
        assert (user.status, user.body["email"]) == (200, "hal@example.com")


def test_an_execution_running_at_a_sigterm_is_started_again_and_completes(tmp_path: Path) -> None:
    first = start(tmp_path)
    try:
        token = _create_user(first, "dee")
        # tok_flaky fails twice before it is charged; the state machine waits between attempts.
        order_id = _place_order(first, token, payment="tok_flaky")
        wait_until(
            lambda: "provider timeout on attempt 1" in first.log_text(), 60, "a first attempt to fail", 0.05
        )
    finally:
        stopped = _stop(first, signal.SIGTERM)  # while the execution waits to retry
    assert stopped < STOP_WITHIN, first.log_text()[-3000:]
    assert first.process.returncode == 0, first.log_text()[-3000:]
    earlier_log = len(first.log_text())

    with running(tmp_path) as again:
        restarted = f"execution {order_id} of shop-orders-dev-fulfilment was running at the last stop"
        assert restarted in again.log_text()[earlier_log:]
        assert again.request("GET", "/users/dee", token=token).status == 200
        _confirmed(again, token, order_id)


SLOW_CHARGE = """
# Added by tests/e2e/test_local_stack_persistence.py to its copy of the repository.
import time as _time
_handler = handler
def handler(event, context):
    _time.sleep(4)
    return _handler(event, context)
"""


def test_an_execution_whose_task_runs_at_a_sigint_is_started_again_and_completes(tmp_path: Path) -> None:
    """The snapshot is taken while the functions still run: killed first, the task would fail,
    the execution would be saved as failed, and its order left PENDING for good."""
    repo = copy_repo(tmp_path)
    with (repo / "services/orders/src/orders/handlers/charge_payment.py").open("a") as handler:
        handler.write(SLOW_CHARGE)
    first = start(tmp_path, repo)
    try:
        token = _create_user(first, "eve")
        order_id = _place_order(first, token)
        wait_until(lambda: "fulfilment started" in first.log_text(), 60, "the fulfilment to start", 0.05)
        time.sleep(1)  # charge-payment is under way: it sleeps 4 s
    finally:
        stopped = _stop(first, signal.SIGINT)
    assert stopped < STOP_WITHIN, first.log_text()[-3000:]
    earlier_log = len(first.log_text())

    again = start(tmp_path, repo)
    try:
        restarted = f"execution {order_id} of shop-orders-dev-fulfilment was running at the last stop"
        assert restarted in again.log_text()[earlier_log:]
        _confirmed(again, token, order_id)
    finally:
        _stop(again, signal.SIGINT)


def test_fresh_starts_empty(tmp_path: Path) -> None:
    with running(tmp_path) as first:
        token = _create_user(first, "bob")
    earlier_log = len(first.log_text())

    with running(tmp_path, LOCAL_STACK_FRESH="1") as fresh:
        assert fresh.request("GET", "/users/bob", token=token).status == 404
        assert "Data       empty (FRESH=1)" in fresh.log_text()[earlier_log:]


def test_make_dev_fresh_reaches_the_stack() -> None:
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "dev", "FRESH=1"],  # noqa: S607 - the repository's own Makefile
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry_run.stdout.splitlines()[-1] == "LOCAL_STACK_FRESH=1 .venv/bin/python -m devtools.local.stack"


def test_a_snapshot_that_does_not_load_is_moved_aside_and_the_stack_starts_empty(tmp_path: Path) -> None:
    (tmp_path / SNAPSHOT_FILE).write_bytes(b"not a snapshot")

    with running(tmp_path) as stack:
        log = stack.log_text()
        assert f"could not restore {tmp_path / SNAPSHOT_FILE}" in log
        assert "starting empty" in log
        assert "Data       empty, " in log
        _create_user(stack, "cy")
    [aside] = tmp_path.glob(f"{SNAPSHOT_FILE}.unusable-*")
    assert aside.read_bytes() == b"not a snapshot"
