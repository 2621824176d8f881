"""How the notifications table is laid out (one table, generic keys).

==================  ================  ==================================================
PK                  SK                item
==================  ================  ==================================================
``USER#<id>``       ``PROFILE``       the profile copy (``shared.profile_copy_table``)
``USER#<id>``       ``NOTIF#<ulid>``  one notification (ULIDs sort newest last)
``EVENT#<id>``      ``EVENT``         the dedupe item of one event: claim, lease, status
==================  ================  ==================================================
"""

from __future__ import annotations

NOTIFICATION_PREFIX = "NOTIF#"
EVENT_SK = "EVENT"


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"
