"""The AWS endpoint of the local stack serves from a process of its own, which ends with the stack:
after a Ctrl-C, after a SIGKILL of the stack's main process (which cannot stop it itself), and when
the start fails on a port in use; the stack stops if it ends first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT
from tests.e2e.local_stack import LocalStack, free_port, kill, session_alive, start, wait_until

pytestmark = pytest.mark.e2e

_LISTEN = "0A"  # a socket's state in /proc/net/tcp


def _listening_on(stack: LocalStack, port: int) -> set[int]:
    """The processes of the stack's session holding the socket that listens on ``port``."""
    [inode] = [
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port
    ]
    holders = set()
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if os.getsid(int(process.name)) != stack.process.pid:
                continue
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in (process / "fd").iterdir()):
                holders.add(int(process.name))
        except OSError:  # it ended while we looked
            continue
    return holders


def _endpoint(stack: LocalStack) -> int:
    """The stack's child process serving its AWS port (a background save, forked from that one,
    holds a copy of the socket for the moment before it closes it)."""
    [endpoint] = [pid for pid in _listening_on(stack, stack.aws_port) if _parent(pid) == stack.process.pid]
    return endpoint


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except FileNotFoundError:
        return None


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it has ended, and waits to be reaped)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except FileNotFoundError:
        return False


def _port_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def test_the_aws_endpoint_serves_from_a_process_of_its_own_that_ends_with_the_stack(tmp_path: Path) -> None:
    stack = start(tmp_path)
    try:
        endpoint = _endpoint(stack)
        assert endpoint != stack.process.pid
        assert stack.process.pid not in _listening_on(stack, stack.aws_port)
        assert stack.client("dynamodb").list_tables()["TableNames"]  # it serves the provisioned tables

        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(timeout=10)
    finally:
        kill(stack.process)

    assert stack.process.returncode == 0, stack.log_text()[-3000:]
    assert not _running(endpoint)
    assert _port_free(stack.aws_port)


def test_the_aws_endpoint_dies_with_the_stack_killed_with_sigkill(tmp_path: Path) -> None:
    stack = start(tmp_path)
    try:
        endpoint = _endpoint(stack)

        stack.process.send_signal(signal.SIGKILL)
        stack.process.wait(timeout=10)

        wait_until(lambda: not _running(endpoint), 3, "the AWS endpoint's process to end", 0.05)
        wait_until(lambda: _port_free(stack.aws_port), 3, "the AWS endpoint's port to be free", 0.05)
    finally:
        kill(stack.process)


def test_the_stack_stops_saying_so_when_its_aws_endpoint_is_killed(tmp_path: Path) -> None:
    stack = start(tmp_path)
    try:
        endpoint = _endpoint(stack)

        os.kill(endpoint, signal.SIGKILL)
        stack.process.wait(timeout=10)
        wait_until(lambda: not session_alive(stack.process), 3, "every process of the stack to end", 0.05)
    finally:
        kill(stack.process)

    assert stack.process.returncode == 1, stack.log_text()[-3000:]
    assert f"the AWS endpoint's process ({endpoint}) ended: stopping the stack" in stack.log_text()
    assert stack.log_text().rstrip().endswith("Local stack stopped.")


@pytest.mark.parametrize("taken", ["AWS_PORT", "API_PORT"])
def test_a_port_in_use_stops_the_start_saying_so_and_leaves_no_process(tmp_path: Path, taken: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        ports = {"API_PORT": str(free_port()), "AWS_PORT": str(free_port()), taken: str(port)}
        stack = subprocess.Popen(
            [sys.executable, "-m", "devtools.local.stack"],
            cwd=ROOT,
            env={**os.environ, **ports, "LOCAL_STACK_DIR": str(tmp_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, errors = stack.communicate(timeout=60)
            wait_until(lambda: not session_alive(stack), 3, "every process of the stack to end", 0.05)
        finally:
            kill(stack)

    assert stack.returncode == 1
    assert errors.splitlines() == [
        f"error: Address already in use (while attempting to bind on address ('127.0.0.1', {port})):"
        " is another `make dev` running? Set API_PORT / AWS_PORT."
    ]
