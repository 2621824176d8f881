"""Domain events: the envelope, every versioned event model, and the registry consumers use."""

from shared.events.envelope import DomainEvent, Envelope, EventMetadata
from shared.events.registry import REGISTRY, model_for

__all__ = ["REGISTRY", "DomainEvent", "Envelope", "EventMetadata", "model_for"]
