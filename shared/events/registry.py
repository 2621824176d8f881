"""Every event model, keyed by ``(detail-type, version)``: the single list consumers resolve from."""

from __future__ import annotations

from shared.events.envelope import DomainEvent
from shared.events.orders import OrderCancelled, OrderConfirmed, OrderFailed, OrderPlaced
from shared.events.users import UserCreated, UserDeleted, UserUpdated

EVENT_MODELS: tuple[type[DomainEvent], ...] = (
    UserCreated,
    UserUpdated,
    UserDeleted,
    OrderPlaced,
    OrderConfirmed,
    OrderFailed,
    OrderCancelled,
)

REGISTRY: dict[tuple[str, int], type[DomainEvent]] = {
    (model.detail_type, model.event_version): model for model in EVENT_MODELS
}


def model_for(detail_type: str, version: int) -> type[DomainEvent] | None:
    return REGISTRY.get((detail_type, version))
