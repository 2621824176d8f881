"""A bounded load on the real stack (loopback only): 25 clients for 30 s over a mix of routes, with
the concurrency races in the middle of it. No 5xx, nothing accepted lost, no event without the
write it reports, and one winner per race.

Every request carries its own ``x-correlation-id``, so the bus log says which request each event
came from.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.emulator.jwt_local import SigningKey, token_for
from devtools.template import Stacks
from tests.e2e.local_stack import LocalStack, Reply, running, wait_until

pytestmark = pytest.mark.e2e

CLIENTS = 25
LOAD_SECONDS = 30.0
RACERS = 5  # requests in each race
FINAL_STATUSES = {"CONFIRMED", "FAILED", "CANCELLED"}
_BUS_LINE = re.compile(r" bus +\S+ (\w+) correlation_id=(\S+)")
_ids = itertools.count()


def _order(payment: str = "tok_ok") -> dict:
    return {
        "items": [{"sku": "BOOK-1", "quantity": 1, "unit_price": "5.00"}],
        "currency": "EUR",
        "payment_token": payment,
    }


@dataclass
class Ledger:
    """What the clients were told, by correlation id."""

    replies: list[tuple[str, str, int]] = field(default_factory=list)  # (what, correlation id, status)
    users: dict[str, str] = field(default_factory=dict)  # user created (201) -> its token
    orders: dict[str, tuple[str, set[str]]] = field(default_factory=dict)  # order id -> (owner, 202s' ids)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self, what: str, status: int) -> set[str]:
        return {cid for w, cid, s in self.replies if w == what and s == status}


class Client:
    def __init__(self, stack: LocalStack, tokens: TokenMint, ledger: Ledger) -> None:
        self.stack, self.tokens, self.ledger = stack, tokens, ledger

    def call(
        self, what: str, method: str, path: str, token: str, body: dict | None = None, **headers: str
    ) -> Reply:
        correlation_id = f"load-{next(_ids)}"
        reply = self.stack.request(
            method, path, token=token, body=body, headers={"x-correlation-id": correlation_id, **headers}
        )
        with self.ledger.lock:
            self.ledger.replies.append((what, correlation_id, reply.status))
            if what == "create user" and reply.status == 201:
                self.ledger.users[reply.body["id"]] = token
            if what == "place order" and reply.status == 202:
                owner = self.tokens.subjects[token]
                _, accepted = self.ledger.orders.setdefault(reply.body["order_id"], (owner, set()))
                accepted.add(correlation_id)
        return reply

    def new_user(self, email: str | None = None) -> tuple[str, str, Reply]:
        user = f"u{next(_ids)}"
        token = self.tokens.mint(user)
        body = {"email": email or f"{user}@example.com", "name": "Load"}
        return user, token, self.call("create user", "POST", "/users", token, body)

    def sign_up(self) -> Client:
        """A user of its own, known to the orders service (it learns of users from UserCreated)."""
        self.user, self.token, created = self.new_user()
        assert created.status == 201, created.body
        wait_until(
            lambda: self.call("place order", "POST", "/orders", self.token, _order()).status == 202,
            30,
            "the profile to reach the orders service",
        )
        return self

    def work(self, until: float) -> None:
        """A mix of the routes until ``until``."""
        user, token = self.user, self.token
        version = self.call("read user", "GET", f"/users/{user}", token).body["version"]
        placed: list[str] = []
        for step in itertools.count():
            if time.monotonic() > until:
                return
            kind = step % 10  # two orders in ten steps: fulfilment, one at a time, keeps up
            if kind == 0:
                version = self.call("read user", "GET", f"/users/{user}", token).body["version"]
            elif kind == 1:
                reply = self.call(
                    "patch user", "PATCH", f"/users/{user}", token, {"name": f"N{step}", "version": version}
                )
                version = reply.body["version"] if reply.status == 200 else version
            elif kind == 2:
                reply = self.call("place order", "POST", "/orders", token, _order())
                placed += [reply.body["order_id"]] if reply.status == 202 else []
            elif kind == 3:
                key = f"k-{user}-{step}"
                first = self.call(
                    "place order", "POST", "/orders", token, _order("tok_decline"), **{"Idempotency-Key": key}
                )
                again = self.call(
                    "place order", "POST", "/orders", token, _order("tok_decline"), **{"Idempotency-Key": key}
                )
                if first.status == again.status == 202:
                    assert first.body["order_id"] == again.body["order_id"], key
            elif kind == 4 and placed:
                self.call("read order", "GET", f"/orders/{placed[-1]}", token)
            elif kind in (5, 6, 8):
                self.call("list orders", "GET", f"/users/{user}/orders", token)
            else:
                self.call("list notifications", "GET", f"/users/{user}/notifications", token)


class TokenMint:
    def __init__(self, state_dir: Path) -> None:
        self.stacks, self.key = Stacks(), SigningKey.load_or_create(state_dir)
        self.subjects: dict[str, str] = {}

    def mint(self, user: str) -> str:
        token = token_for(self.stacks, self.key, user)
        self.subjects[token] = user
        return token


def _race(calls: list) -> list[Reply]:
    """The calls at once, each from a thread of its own, released together."""
    gate = threading.Barrier(len(calls))

    def run(call) -> Reply:
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@dataclass
class Races:
    same_email: list[Reply] = field(default_factory=list)
    same_version: list[Reply] = field(default_factory=list)
    same_key: list[Reply] = field(default_factory=list)
    key_owner: str = ""


def _run_races(client: Client, races: Races) -> None:
    """``client`` signed up: the same Idempotency-Key is raced by its user."""
    email = f"race-{next(_ids)}@example.com"
    races.same_email = _race([lambda: client.new_user(email)[2] for _ in range(RACERS)])
    user, token, created = client.new_user()
    assert created.status == 201, created.body
    change = {"name": "Raced", "version": created.body["version"]}
    races.same_version = _race(
        [lambda: client.call("patch user", "PATCH", f"/users/{user}", token, change) for _ in range(RACERS)]
    )
    races.key_owner, token = client.user, client.token
    races.same_key = _race(
        [
            lambda: client.call(
                "place order", "POST", "/orders", token, _order(), **{"Idempotency-Key": "raced"}
            )
            for _ in range(RACERS)
        ]
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running(tmp_path_factory.mktemp("local-stack-load")) as local:
        yield local


def _orders_of(stack: LocalStack, user: str, token: str) -> dict[str, str]:
    """Every order of ``user``: id -> status."""
    found, cursor = {}, ""
    while True:
        page = stack.request("GET", f"/users/{user}/orders?limit=100{cursor}", token=token)
        assert page.status == 200, page.body
        found |= {order["order_id"]: order["status"] for order in page.body["orders"]}
        if not page.body.get("next_cursor"):
            return found
        cursor = f"&cursor={page.body['next_cursor']}"


def test_25_clients_for_30_s_lose_nothing_invent_nothing_and_races_have_one_winner(stack: LocalStack) -> None:
    tokens, ledger, races = TokenMint(stack.state_dir), Ledger(), Races()
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        signed_up = [pool.submit(Client(stack, tokens, ledger).sign_up) for _ in range(CLIENTS + 1)]
        racer, *clients = [done.result() for done in signed_up]
        started = time.monotonic()
        working = [pool.submit(client.work, started + LOAD_SECONDS) for client in clients]
        time.sleep(LOAD_SECONDS / 3)  # the races in the thick of it
        raced = pool.submit(_run_races, racer, races)
        for done in [*working, raced]:
            done.result()

    failed = [reply for reply in ledger.replies if reply[2] >= 500]
    assert not failed, failed
    assert sorted(r.status for r in races.same_email) == [201] + [409] * (RACERS - 1)
    assert sorted(r.status for r in races.same_version) == [200] + [409] * (RACERS - 1)
    keyed = {r.body["order_id"] for r in races.same_key if r.status == 202}
    assert len(keyed) == 1, races.same_key
    assert {r.status for r in races.same_key} <= {202, 409}, races.same_key

    for user, token in ledger.users.items():  # every sign-up answered 201 is there
        assert stack.request("GET", f"/users/{user}", token=token).status == 200, user
    owners = defaultdict(set)
    for order_id, (owner, _) in ledger.orders.items():
        owners[owner].add(order_id)

    pending: dict[str, str] = {}  # order id -> status, or "" while intake still holds it

    def every_order_final() -> bool:
        pending.clear()
        for owner, order_ids in owners.items():
            statuses = _orders_of(stack, owner, tokens.mint(owner))
            pending.update(
                {o: statuses.get(o, "") for o in order_ids if statuses.get(o) not in FINAL_STATUSES}
            )
        return not pending

    try:  # an order accepted (202) but never in the table, or never final, was lost on the way
        wait_until(every_order_final, 90, "every accepted order to reach a final status", interval=1)
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}: {len(pending)} still {Counter(pending.values())}") from None
    raced_user_orders = _orders_of(stack, races.key_owner, tokens.mint(races.key_owner))
    assert len(raced_user_orders) == 2  # the one placed at its sign-up, and the raced one

    order_of = {cid: order_id for order_id, (_, accepted) in ledger.orders.items() for cid in accepted}

    def events() -> Counter | None:
        found = Counter(_BUS_LINE.findall(stack.log_text()))
        placed = sum(n for (kind, _), n in found.items() if kind == "OrderPlaced")
        return found if placed >= len(ledger.orders) else None

    logged = wait_until(events, 20, "an OrderPlaced event per accepted order")
    by_kind = defaultdict(Counter)
    for (kind, cid), count in logged.items():
        if cid.startswith("load-"):
            by_kind[kind][cid] = count
    assert by_kind["UserCreated"] == Counter(ledger.ids("create user", 201))
    assert by_kind["UserUpdated"] == Counter(ledger.ids("patch user", 200))
    assert Counter(order_of[cid] for cid in by_kind["OrderPlaced"].elements()) == Counter(list(ledger.orders))
    answers = sorted(Counter((what, status) for what, _, status in ledger.replies).items())
    print(f"\n{len(ledger.replies)} requests from {CLIENTS} clients: {answers}")
    print(f"{len(ledger.users)} users, {len(ledger.orders)} orders")
