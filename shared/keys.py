"""Key conventions every table shares: generic ``PK``/``SK``, entity prefixes, ULID ids, and the
fixed-width timestamps DynamoDB can compare as strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

USER_PREFIX = "USER#"
PROFILE_SK = "PROFILE"
ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
ULID = re.compile(ULID_PATTERN)


def user_pk(user_id: str) -> str:
    return USER_PREFIX + user_id


def timestamp(moment: datetime) -> str:
    """A fixed-width UTC timestamp, so that DynamoDB compares them correctly as strings."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a time without a zone is UTC (what every producer writes)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def condition_failed(error: Any) -> bool:
    """Whether a low-level client error is a failed ``ConditionExpression`` of a single write."""
    code: str | None = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def cancelled_by_condition(error: Any, index: int) -> bool:
    """Whether a cancelled transaction failed on the condition of its ``index``-th action."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons", [])
    return len(reasons) > index and reasons[index].get("Code") == "ConditionalCheckFailed"
