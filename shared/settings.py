"""Configuration read from the environment once, into a typed, frozen pydantic model."""

from __future__ import annotations

import os
from functools import cache
from typing import Self, cast

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """Base for each service's settings: field ``table_name`` is read from ``TABLE_NAME``.

    Subclasses declare their fields; ``Settings.load()`` validates the environment once per
    process and every later call returns the same object.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    aws_region: str = "us-east-1"

    @classmethod
    def load(cls) -> Self:
        return cast("Self", _load(cls))  # the cache is keyed by the class it built

    @classmethod
    def reset(cls) -> None:
        """Forget the cached settings (tests change the environment between cases)."""
        _load.cache_clear()


@cache
def _load(cls: type[Settings]) -> Settings:
    return cls.model_validate({key.lower(): value for key, value in os.environ.items()})
