"""Driving ``python -m devtools.local.stack`` in a subprocess on free ports, over HTTP (its gateway) and
its AWS endpoint, as a developer drives ``make dev``.

Tokens come from ``python -m devtools.emulator.jwt_local`` (what ``make token`` runs), against the same
state directory as the stack, so its signing key is the one the gateway trusts.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from devtools.emulator.jwt_local import SigningKey, token_for
from devtools.template import ROOT, Stacks

# The stack is ready once its routes' workers are up (or after 20 s without them); on a machine
# loaded ~9x its cores, a worker's start alone was seen to take 12 s. Start-up time is measured by
# `make bench`, not here.
READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class LocalStack:
    api_port: int
    aws_port: int
    state_dir: Path
    log: Path
    process: subprocess.Popen
    root: Path = ROOT  # the repository it runs from

    @property
    def aws(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=15)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            status, raw, reply_headers = response.status, response.read(), response.getheaders()
        finally:
            connection.close()
        parsed = json.loads(raw) if raw else None
        return Reply(status, parsed, {name.lower(): value for name, value in reply_headers})

    def minted_token(self, user: str) -> str:
        """A token minted in this process rather than by ``make token`` (a process of its own), so
        that a request's timing is the stack's alone."""
        return token_for(Stacks(), SigningKey.load_or_create(self.state_dir), user)

    def token(self, user: str, groups: str = "") -> str:
        """A token from the CLI ``make token`` runs."""
        minted = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "devtools.emulator.jwt_local", user, "--groups", groups],
            cwd=ROOT,
            env={**os.environ, "LOCAL_STACK_DIR": str(self.state_dir)},
            capture_output=True,
            text=True,
            check=True,
        )
        return minted.stdout.strip()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", ".local-stack", "__pycache__", ".pytest_cache", ".ruff_cache", ".cache"
)


def copy_repo(into: Path, *, packaging: bool = False) -> Path:
    """A copy of the repository (its packaged templates included, its venv and node_modules not:
    the stack runs with this interpreter), for a test that edits a handler or a template. With
    ``packaging``, the copy links the repository's node_modules, venv and built dependencies
    (``.cache``), so that ``osls package`` runs in it as in the repository."""
    repo = into / "repo"
    shutil.copytree(ROOT, repo, ignore=_NOT_COPIED)
    for name in (".venv", "node_modules", ".cache") if packaging else ():
        (repo / name).symlink_to(ROOT / name)
    return repo


def start(state_dir: Path, root: Path = ROOT, **environment: str) -> LocalStack:
    """The stack of the repository at ``root`` started in a session of its own (so that what it
    leaves behind can be found), answering ``GET /health`` with 200."""
    api_port, aws_port, log_path = free_port(), free_port(), state_dir / "stack.log"
    variables = {
        **os.environ,
        "API_PORT": str(api_port),
        "AWS_PORT": str(aws_port),
        "LOCAL_STACK_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
        **environment,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local.stack"],
            cwd=root,
            env=variables,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    local = LocalStack(api_port, aws_port, state_dir, log_path, process, root)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited with {process.returncode}:\n{local.log_text()}")
        try:
            return local.request("GET", "/health").status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, READY_TIMEOUT, "GET /health")
    except BaseException:
        kill(process)
        raise
    return local


def kill(process: subprocess.Popen) -> None:
    """Whatever is left of the stack's session, killed."""
    for pid in [process.pid, *_session(process)]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def _session(process: subprocess.Popen) -> list[int]:
    """The processes running in the stack's session (the stack, and anything it started, in its
    process group or in another): those whose session id is the stack's pid."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            # pid (comm) state ppid pgrp session ...: the comm may hold spaces and parentheses.
            state, _, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
            if int(session) == process.pid and state != "Z":
                pids.append(int(stat.parent.name))
    return pids


def stop_every_process(stack: LocalStack, signum: int, within: float) -> float:
    """Seconds from ``signum`` to the exit of every process of the stack's session; waited for up
    to ``within`` + 2 s, then what is left is named in the failure and killed."""
    sent = time.monotonic()
    stack.process.send_signal(signum)

    def gone() -> bool:  # the stack reaped (a zombie still counts in its group), then the rest
        return stack.process.poll() is not None and not session_alive(stack.process)

    try:
        wait_until(gone, within + 2, "every process of the stack to exit", 0.02)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; {_left_in_session(stack)}\n{stack.log_text()[-3000:]}") from None
    finally:
        kill(stack.process)
    return time.monotonic() - sent


def _left_in_session(stack: LocalStack) -> str:
    """The processes left in the stack's session, with their state, for a failure's message."""
    listing = subprocess.run(  # noqa: S603 - ps on our own child
        ["ps", "-s", str(stack.process.pid), "-o", "pid,stat,wchan:20,etime,args"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return f"left in its session:\n{listing.stdout}"


def session_alive(process: subprocess.Popen) -> bool:
    """Whether any process of the stack's session still runs."""
    return bool(_session(process))


@contextmanager
def running(state_dir: Path, **environment: str) -> Iterator[LocalStack]:
    """The stack for the duration of the block, stopped with Ctrl-C (SIGINT) after it; it must stop
    cleanly."""
    local = start(state_dir, **environment)
    try:
        yield local
    finally:
        local.process.send_signal(signal.SIGINT)
        try:
            local.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill(local.process)
    assert local.process.returncode == 0, local.log_text()[-5000:]
    assert "Local stack stopped." in local.log_text()
