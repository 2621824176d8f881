"""A fault for one record's calls only, so a batch holds records that fail and records that do not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.reliability.faults import Call, client_error


@dataclass
class FailWhen:
    """Fails the calls whose parameters ``matches`` with ``code`` (``times`` of them, or every one
    while ``times`` is None), before AWS sees them. Counts the calls let through by ``key(params)``:
    the effects attempted, a conditional write refused included."""

    operation: str
    matches: Callable[[dict], bool]
    key: Callable[[dict], str]
    code: str
    times: int | None = 1
    failed: int = 0
    performed: Counter[str] = field(default_factory=Counter)

    def __call__(self, call: Call, params: dict) -> dict:
        if self.matches(params) and (self.times is None or self.failed < self.times):
            self.failed += 1
            raise client_error(self.code, self.operation)
        self.performed[self.key(params)] += 1  # reached AWS, whatever it answers
        return call(params)

    def heal(self) -> None:
        """The cause is fixed: from now on every call goes through."""
        self.times = self.failed
