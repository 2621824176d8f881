"""Why a consumer refuses an event: no retry can change the answer, so the message goes to the
dead-letter queue at once with its reason (``shared.consumer.event_consumer``)."""

from __future__ import annotations


class EventRejected(ValueError):
    """The message is not an event this consumer can handle; retrying will not change that."""


class UnknownEvent(EventRejected):
    pass


class InvalidEvent(EventRejected):
    pass


class UnsupportedEvent(EventRejected):
    """A valid event that this consumer does not consume: a routing mistake, not worth a retry."""
