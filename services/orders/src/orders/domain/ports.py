"""What the domain needs from the outside world; the adapters implement these."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from orders.domain.model import NewOrder, Order
from shared.events.envelope import Envelope
from shared.profile_copy import ProfileCopy


class StatusConflict(Exception):
    """A conditional status change found the order in another status than the one it started from."""


class Recorded(StrEnum):
    ADDED = "ADDED"
    ALREADY_RECORDED = "ALREADY_RECORDED"  # a redelivered intake message
    USER_GONE = "USER_GONE"  # the user was deleted after acceptance: recorded CANCELLED


@dataclass(frozen=True)
class KeyClaim:
    """What an Idempotency-Key names: its order, and whether that order is surely queued."""

    order_id: str
    queued: bool


@dataclass(frozen=True)
class OrdersPage:
    profile: ProfileCopy | None  # only on the first page (the one asked for without a cursor)
    orders: list[Order]
    next_cursor: str | None


class OrderRepository(Protocol):
    def add_order(self, order: Order, event: Envelope[Any], *, while_profile_active: bool) -> Recorded:
        """Write a new order and its event, once (else ``ALREADY_RECORDED``); with
        ``while_profile_active``, only while the user's profile copy is active (else ``USER_GONE``)."""

    def claim_key(
        self, user_id: str, key: str, order_id: str, fingerprint: str, *, now: datetime, hold_until: datetime
    ) -> KeyClaim:
        """Let the caller's ``key`` name ``order_id`` for its window, held by this request until
        ``hold_until``, unless it names an order already: returns the order it names. Raises
        ``KeyUsedForAnotherOrder`` when that order's ``fingerprint`` differs, ``KeyInFlight`` while
        the request holding it may still queue the order; once that one's hold is over (it died),
        the key is held by this request instead, and only by one."""

    def key_queued(self, user_id: str, key: str, order_id: str) -> None:
        """Record that the order the caller's ``key`` names is queued: a replay only reads it."""

    def get_order(self, user_id: str, order_id: str) -> Order | None: ...

    def find_order(self, order_id: str) -> Order | None:
        """The order with this id, whoever owns it."""

    def start_payment_attempt(self, user_id: str, order_id: str) -> tuple[Order, int]:
        """Count one more payment attempt of a PENDING order; returns it and the attempt number.
        Raises ``OrderNotPending`` when the order is not (or no longer) PENDING."""

    def save_transition(self, before: Order, after: Order, event: Envelope[Any]) -> None:
        """Write ``after`` and its event, on condition that the stored status is still ``before``'s.
        Raises ``StatusConflict`` otherwise."""

    def list_orders(self, user_id: str, limit: int, cursor: str | None) -> OrdersPage: ...

    def open_orders(self, user_id: str) -> Iterator[Order]: ...


class IntakeQueue(Protocol):
    def send(self, order: NewOrder) -> None: ...


@dataclass(frozen=True)
class ChargeRequest:
    order_id: str  # also the provider's idempotency key: one order is charged at most once
    payment_token: str
    amount: Decimal
    currency: str
    attempt: int


class PaymentProvider(Protocol):
    def charge(self, request: ChargeRequest) -> str:
        """Charge and return the charge id; raises ``PaymentDeclined`` or ``PaymentTransientError``."""

    def refund(self, charge_id: str) -> str:
        """Refund a charge in full and return the refund id."""


# The state machine's Retry and Catch match these class names (the task's error type).
class PaymentDeclined(Exception):
    """A hard decline: retrying will not change the answer."""


class PaymentTransientError(Exception):
    """The provider could not answer now; the same charge may succeed when tried again."""
