"""Fixtures of the users tests: the API called as API Gateway calls it, the table, its stream, and a
tap on the shared bus."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from devtools.template import Stacks
from devtools.testkit.fixtures import BusRecorder, item_reader, read_outbox
from devtools.testkit.http import HttpResult
from devtools.testkit.records import stream_records as stream_records_of


@pytest.fixture
def call_api(call_http: Callable[..., HttpResult]) -> Callable[..., HttpResult]:
    """``call_api("PATCH", "/users/u1", body={...}, user="u1")`` through the real handler."""
    return partial(call_http, "users")


@pytest.fixture
def table(aws: Stacks) -> Callable[[str, str], dict[str, Any] | None]:
    """``table("USER#u1", "PROFILE")`` → the stored item (low-level shape) or None."""
    return item_reader(aws, "users", "UsersTable")


@pytest.fixture
def outbox(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """The events waiting in the users outbox, oldest first."""
    return lambda: read_outbox(aws, "users")


@pytest.fixture
def stream_records(aws: Stacks) -> Callable[[], list[dict[str, Any]]]:
    """Every record of the users table's stream as Lambda delivers it."""
    return lambda: stream_records_of(aws.physical_name("users", "UsersTable"))


@pytest.fixture
def bus_events(bus_recorder: BusRecorder) -> Callable[[], list[dict[str, Any]]]:
    """What ``shop.users`` published on the shared bus since the last call."""
    return lambda: bus_recorder.new("shop.users")
