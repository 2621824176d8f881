"""The plumbing narrowed to the consumers a test exercises, and what each invocation of them did."""

from __future__ import annotations

from devtools.emulator.plumbing import Delivery, Plumbing, event_source_mappings


def only(plumbing: Plumbing, service: str, *functions: str) -> Plumbing:
    """Deliver to these functions of ``service`` only (``only(plumbing, "orders", "sync-profiles")``):
    the other consumers of the same records have their own tests, and a consumer left out leaves
    its records waiting."""
    plumbing.mappings = [
        m
        for m in event_source_mappings(plumbing.stacks, plumbing.specs)
        if m.enabled and m.function.service == service and m.function.short_name in functions
    ]
    return plumbing


def record_deliveries(plumbing: Plumbing) -> list[Delivery]:
    """Every invocation the plumbing makes from now on: records handed over, records failed."""
    seen: list[Delivery] = []
    plumbing.on_delivery = seen.append
    return seen
