"""Who may act on a user's resources, decided in one layer: the domain, which alone knows whose
resource a request touches (an order read by its id names its owner only once it is read).
Handlers pass the caller (``shared.http.Caller`` is an ``Actor``); the shared HTTP resolver
answers ``NotAllowed`` with 403."""

from __future__ import annotations

from typing import Protocol


class Actor(Protocol):
    """Who asks: a user, or an admin acting on anyone."""

    @property
    def user_id(self) -> str: ...

    def may_act_on(self, user_id: str) -> bool: ...


class NotAllowed(Exception):
    """The actor may not act on another user's resources."""


def authorize(actor: Actor, user_id: str) -> None:
    if not actor.may_act_on(user_id):
        raise NotAllowed(user_id)
