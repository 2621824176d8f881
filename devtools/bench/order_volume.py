"""The local stack as the data grows: ``BENCH_ORDERS`` orders (default 5,000) placed through the real
stack's HTTP API, and what the stack holds and what an order costs along the way.

- **Memory**: the proportional set size (PSS, ``/proc/<pid>/smaps_rollup``) of every process of the
  stack's session (the stack, its zygote and its function workers) after 500 orders and after
  ``BENCH_ORDERS``, each read once the stack is at rest (the last order placed confirmed, then the
  processes using under half a core). Target: at most 1.2x.
- **The cost of an order**, around the 50th and at the end: 20 orders placed one at a time by one
  client, each read back (``GET /orders/{id}`` every 50 ms) until ``CONFIRMED``, then ``REST``
  seconds before the next (the previous order's tail done: its events, the notifications); then 20
  more, each placed as soon as the previous read back ``CONFIRMED``. p50 of the ``POST`` of the
  first 20 (target: at most 1.5x), of the ``POST`` of the next 20 (printed: where each falls in the
  previous order's tail moves its p50 from one run to the next), and of the time to
  ``CONFIRMED`` of the next 20 (the pollers busy, as they are when orders come in; target: at most
  1.5x).
- **Throughput**: orders placed per second by a few clients at once (the rest of the orders), over
  those up to the 500th and over as many at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

from devtools.bench.local_stack import HOST, running_stack, stack_state_dir, until
from devtools.bench.table import Table, ms, verdict, verdict_at_least
from devtools.emulator.jwt_local import SigningKey, token_for
from devtools.template import Stacks

ORDERS = 5000  # BENCH_ORDERS
CLIENTS = 4  # at once, each with a user of its own (BENCH_ORDER_CLIENTS)
EARLY = 50  # the order whose cost is the baseline
WINDOW = 20  # orders timed one at a time around EARLY, and at the end, in each of two ways
REST = 2.0  # seconds from an order read back CONFIRMED to the next "on a stack at rest"
MEMORY_BASELINE = 500  # orders before the first memory reading
MEMORY_TARGET = 1.2  # x the memory after MEMORY_BASELINE orders
COST_TARGET = 1.5  # x the cost of the EARLY-th order
QUIET_CPU = 0.5  # CPU seconds per second, all the stack's processes together, under which it is at rest
PLACE_ATTEMPTS = 3  # POSTs of one order (same Idempotency-Key) before the measurement gives up
BACKLOG_TIMEOUT = 1800.0  # seconds the fulfilment of the orders accepted may take to catch up
ORDER = {
    "items": [{"sku": "BOOK-1", "quantity": 1, "unit_price": "5.00"}],
    "currency": "EUR",
    "payment_token": "tok_ok",
}


class Client:
    """One keep-alive connection to the gateway, as one user."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: object = None, **headers: str) -> tuple[int, dict]:
        """Status and JSON body. A connection the gateway closed while idle (its keep-alive timeout)
        is opened again once: every request here is safe to repeat (the orders carry an
        Idempotency-Key)."""
        data = json.dumps(body) if body is not None else None
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=data, headers=self.headers | headers)
                response = self.connection.getresponse()
                payload = response.read()
            except ConnectionError:  # http.client.RemoteDisconnected among them
                self.connection.close()
                if attempt == 2:
                    raise
                continue
            return response.status, json.loads(payload) if payload else {}
        raise AssertionError("unreachable")


@dataclass
class Timed:
    """An order placed alone, on a stack at rest."""

    number: int  # 1 for the first order placed
    placed: float  # seconds the POST took
    confirmed: float  # seconds from sending the POST to reading the order back CONFIRMED


@dataclass
class Orders:
    """The orders placed so far: the next one's number, and when each was answered."""

    next_number: int = 1
    answered: dict[int, float] = field(default_factory=dict)  # order number -> perf_counter
    ids: dict[int, str] = field(default_factory=dict)
    owners: dict[int, Client] = field(default_factory=dict)  # order number -> the client (user) placing it
    refused: list[str] = field(default_factory=list)  # answers other than 202
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, last: int) -> int | None:
        with self.lock:
            if self.next_number > last:
                return None
            number, self.next_number = self.next_number, self.next_number + 1
            return number

    def place(self, client: Client, number: int) -> tuple[str, float]:
        """Place order ``number``; its id and the seconds the POST took. An answer other than 202 is
        counted, and the order placed again with the same Idempotency-Key, as a client would."""
        for _ in range(PLACE_ATTEMPTS):
            began = time.perf_counter()
            status, body = client.call("POST", "/orders", ORDER, **{"Idempotency-Key": f"bench-{number}"})
            answered = time.perf_counter()
            if status == 202:
                break
            with self.lock:
                self.refused.append(f"order {number}: {status} {body}")
        else:
            raise RuntimeError(f"order {number}: POST /orders answered {status} {body}")
        with self.lock:
            self.answered[number], self.ids[number] = answered, body["order_id"]
            self.owners[number] = client
        return body["order_id"], answered - began

    def rate(self, first: int, last: int) -> float:
        """Orders per second from the answer to order ``first - 1`` to the answer to order ``last``."""
        return (last - first + 1) / (self.answered[last] - self.answered[first - 1])

    def at_once(self, clients: list[Client], last: int) -> None:
        """Place orders with every client at once up to order ``last``."""
        errors: list[Exception] = []

        def work(client: Client) -> None:
            try:
                while (number := self.take(last)) is not None:
                    self.place(client, number)
            except Exception as error:  # reported once every client stopped
                errors.append(error)

        threads = [threading.Thread(target=work, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def one_at_a_time(self, client: Client, count: int, pause: float = 0.0) -> list[Timed]:
        """``count`` orders, each read back CONFIRMED, then ``pause`` seconds, before the next."""
        timed = []
        for number in range(self.next_number, self.next_number + count):
            self.next_number = number + 1
            time.sleep(pause)
            began = time.perf_counter()
            order_id, placed = self.place(client, number)
            timed.append(Timed(number, placed, _confirmed(client, order_id, began)))
        return timed


def _confirmed(
    client: Client, order_id: str, began: float, timeout: float = 120.0, poll: float = 0.05
) -> float:
    """Seconds from ``began`` until the order reads back CONFIRMED, read every ``poll`` seconds."""
    while time.perf_counter() - began < timeout:
        status, body = client.call("GET", f"/orders/{order_id}")
        if status == 200 and body["status"] == "CONFIRMED":
            return time.perf_counter() - began
        if status == 200 and body["status"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"order {order_id} ended {body['status']}")
        time.sleep(poll)
    raise TimeoutError(f"order {order_id} not confirmed within {timeout:.0f} s")


def _new_users(port: int, key: SigningKey, count: int) -> list[Client]:
    """``count`` users, each known to the orders service (it learns of a user from its UserCreated)."""
    stacks, clients = Stacks(), []
    for n in range(count):
        user = f"bench-orders-{n}"
        client = Client(port, token_for(stacks, key, user))
        status, body = client.call("POST", "/users", {"email": f"{user}@example.com", "name": "Bench"})
        if status != 201:
            raise RuntimeError(f"POST /users answered {status} {body}")
        until(lambda c=client, u=user: c.call("GET", f"/users/{u}/orders")[1].get("profile") is not None, 60)
        clients.append(client)
    return clients


def _session(leader: int) -> list[int]:
    """Every process of the session ``leader`` started (the stack's, as ``make dev`` runs it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == leader:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
    return pids


def _pss(pid: int) -> int:
    """Bytes of ``pid``'s proportional set size (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def _cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _parent(pid: int) -> int | None:
    try:  # the fourth field of /proc/<pid>/stat; the name before it may hold spaces
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def _stack_processes(leader: int) -> list[int]:
    """The processes running ``python -m devtools.local.stack`` in the session, parents first: the
    stack's own, the AWS endpoint's (its child), and a background save's while one runs (the
    endpoint's child)."""
    found = set()
    for pid in _session(leader):
        try:
            if b"devtools.local.stack" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except FileNotFoundError:
            continue
    parents = {pid: _parent(pid) for pid in found}
    ordered = [pid for pid in found if parents[pid] not in found]  # the stack's own
    while children := [pid for pid in found if parents[pid] in ordered and pid not in ordered]:
        ordered += sorted(children)
    return ordered


def _at_rest(leader: int, client: Client, last_order: str, timeout: float = 180.0) -> None:
    """Wait until the last order placed is confirmed (its backlog may take ``BACKLOG_TIMEOUT``), the
    stack's processes use under ``QUIET_CPU``, and no snapshot is being saved (its process would
    count, for a moment, the pages it copies)."""
    _confirmed(client, last_order, time.perf_counter(), BACKLOG_TIMEOUT, poll=1.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_seconds(_session(leader))
        time.sleep(2.0)
        if _cpu_seconds(_session(leader)) - before < QUIET_CPU * 2.0 and len(_stack_processes(leader)) == 2:
            return
    raise TimeoutError(f"the stack still busy {timeout:.0f} s after the last order was confirmed")


@dataclass(frozen=True)
class Memory:
    total: int  # bytes of PSS
    processes: int
    stack: int  # the stack's own process (the gateway, the plumbing, the pollers)
    endpoint: int  # the AWS endpoint's process (moto: the tables, queues, streams, executions)


def _memory(leader: int) -> Memory:
    pids = _session(leader)
    stack, endpoint = _stack_processes(leader)[:2]
    return Memory(sum(_pss(pid) for pid in pids), len(pids), _pss(stack), _pss(endpoint))


@contextmanager
def _log_shown_on_failure(log: Path, lines: int = 80) -> Iterator[None]:
    """The end of the stack's log on standard error if the measurement fails (it goes with its
    temporary directory)."""
    try:
        yield
    except Exception:
        if log.exists():
            print("".join(log.read_text().splitlines(keepends=True)[-lines:]), file=sys.stderr)
        raise


def run(repeat: int) -> Table:
    total = int(os.environ.get("BENCH_ORDERS", ORDERS))
    clients_count = int(os.environ.get("BENCH_ORDER_CLIENTS", CLIENTS))
    if total < 2 * MEMORY_BASELINE:
        raise ValueError(f"BENCH_ORDERS must be at least {2 * MEMORY_BASELINE}")
    table = Table(
        f"{total} orders through the local stack (POST /orders paying with tok_ok; {clients_count} "
        "clients, each its own user and keep-alive connection)",
        ["measurement", "early", "baseline", "late", "value", "ratio", "target"],
    )
    orders = Orders()
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as folder:
        scratch = Path(folder)
        with (
            _log_shown_on_failure(scratch / "stack.log"),
            running_stack(scratch, fresh=True) as (endpoints, process),
        ):
            leader = process.pid
            key = SigningKey.load_or_create(stack_state_dir(scratch))
            clients = _new_users(endpoints.api_port, key, clients_count)

            def settle() -> None:
                last = orders.next_number - 1
                _at_rest(leader, orders.owners[last], orders.ids[last])

            orders.at_once(clients, EARLY - WINDOW)
            settle()
            first_at_rest = orders.one_at_a_time(clients[0], WINDOW, REST)
            first = orders.one_at_a_time(clients[0], WINDOW)
            orders.at_once(clients, MEMORY_BASELINE)
            settle()
            early = _memory(leader)
            orders.at_once(clients, total - 2 * WINDOW)
            settle()
            last_at_rest = orders.one_at_a_time(clients[0], WINDOW, REST)
            last = orders.one_at_a_time(clients[0], WINDOW)
            settle()
            late = _memory(leader)
    mb = 1024 * 1024
    table.add(
        "memory of the stack's processes (PSS, MB)",
        f"after {MEMORY_BASELINE}",
        f"{early.total / mb:.0f}",
        f"after {total}",
        f"{late.total / mb:.0f}",
        f"{late.total / early.total:.2f}x",
        f"≤ {MEMORY_TARGET}x: {verdict(late.total / early.total, MEMORY_TARGET)}",
    )
    for name, before, after in (
        ("  of which the stack's own process (MB)", early.stack, late.stack),
        ("  of which the AWS endpoint's process (MB)", early.endpoint, late.endpoint),
    ):
        table.add(
            name,
            f"after {MEMORY_BASELINE}",
            f"{before / mb:.0f}",
            f"after {total}",
            f"{after / mb:.0f}",
            f"{after / before:.2f}x",
            "-",
        )
    for name, seconds, early_ones, late_ones, target in (
        (
            f"POST /orders alone, {REST:.0f} s after the last, p50 (ms)",
            attrgetter("placed"),
            first_at_rest,
            last_at_rest,
            True,
        ),
        ("POST /orders alone, right after the last, p50 (ms)", attrgetter("placed"), first, last, False),
        ("POST /orders → CONFIRMED read back, alone, p50 (ms)", attrgetter("confirmed"), first, last, True),
    ):
        before, after = (
            statistics.median(map(seconds, early_ones)),
            statistics.median(map(seconds, late_ones)),
        )
        table.add(
            name,
            f"orders {early_ones[0].number}-{early_ones[-1].number}",
            ms(before),
            f"orders {late_ones[0].number}-{late_ones[-1].number}",
            ms(after),
            f"{after / before:.2f}x",
            f"≤ {COST_TARGET}x: {verdict(after / before, COST_TARGET)}" if target else "-",
        )
    # The same number of orders early and late, placed without a pause (for memory) among them.
    early_from, early_to, late_to = EARLY + WINDOW + 1, MEMORY_BASELINE, total - 2 * WINDOW
    late_from = late_to - (early_to - early_from)
    early_rate, late_rate = orders.rate(early_from, early_to), orders.rate(late_from, late_to)
    table.add(
        f"orders placed per second, {clients_count} clients at once",
        f"orders {early_from}-{early_to}",
        f"{early_rate:.1f}",
        f"orders {late_from}-{late_to}",
        f"{late_rate:.1f}",
        f"{late_rate / early_rate:.2f}x",
        f"≥ {1 / COST_TARGET:.2f}x: {verdict_at_least(late_rate / early_rate, 1 / COST_TARGET)}",
    )
    table.notes += [
        f"Processes in the stack's session: {early.processes} after {MEMORY_BASELINE} orders, "
        f"{late.processes} after {total} (make, the stack, the zygote, the functions' workers).",
        "At rest: the last order placed read back CONFIRMED, then the stack's processes using under half "
        "a core over 2 s. Memory is read at rest, and the orders timed alone are placed at rest.",
        "An order placed right after the last was read back CONFIRMED shares the cores with that order's "
        "tail (its events, the notifications): its POST's p50 says where it fell in that tail more than "
        "what the POST costs, and moves from one run to the next; hence the target on those placed "
        f"{REST:.0f} s apart.",
        "BENCH_ORDERS=<n> (at least 1000) places fewer orders; BENCH_ORDER_CLIENTS=<n> changes the clients.",
    ]
    if orders.refused:
        table.notes.append(
            f"{len(orders.refused)} POST(s) not answered 202, then placed again (first: {orders.refused[0]})"
        )
    return table
