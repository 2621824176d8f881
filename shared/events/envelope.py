"""The event envelope every service publishes on the bus (DESIGN.md §2).

An EventBridge entry carries ``source`` (``shop.<service>``), ``detail-type`` (the PascalCase
past-tense fact) and ``detail = {"metadata": {...}, "data": {...}}``. ``data`` is a versioned
``DomainEvent``; within a version a producer may only add optional fields, which consumers
ignore (``extra="ignore"``) until they need them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

APP = "shop"


def new_id() -> str:
    """A sortable unique id (ULID): ids made later sort after earlier ones."""
    return str(ULID())


def utc_now() -> datetime:
    return datetime.now(UTC)


class DomainEvent(BaseModel):
    """Base of every event payload; subclasses set the class variables that route them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    source: ClassVar[str]
    detail_type: ClassVar[str]
    event_version: ClassVar[int] = 1


class EventMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1)
    event_version: int = Field(ge=1)
    correlation_id: str = Field(min_length=1)
    occurred_at: datetime
    producer: str = Field(min_length=1)


class Envelope[E: DomainEvent](BaseModel):
    """``detail`` of an EventBridge event: metadata plus the typed payload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    metadata: EventMetadata
    data: E

    @classmethod
    def wrap(cls, data: E, *, correlation_id: str, event_id: str | None = None) -> Envelope[E]:
        metadata = EventMetadata(
            event_id=event_id or new_id(),
            event_version=data.event_version,
            correlation_id=correlation_id,
            occurred_at=utc_now(),
            producer=data.source,
        )
        # Parametrised by the payload's own class, so that its JSON Schema and validation are its own.
        # (A runtime type argument, which a static checker cannot follow.)
        parametrised: type[Envelope[E]] = Envelope[type(data)]  # type: ignore[misc, assignment]
        return parametrised(metadata=metadata, data=data)

    @property
    def source(self) -> str:
        return self.data.source

    @property
    def detail_type(self) -> str:
        return self.data.detail_type

    def detail_json(self) -> str:
        return self.model_dump_json()

    def to_entry(self, bus_name: str) -> dict[str, str]:
        """The ``PutEvents`` entry for this event."""
        return {
            "EventBusName": bus_name,
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": self.detail_json(),
        }
