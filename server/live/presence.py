"""Where each linked classroom is, for the teacher's console: in the lesson, reconnecting after a
drop, waiting on its kiosk's "next lesson" screen, or offline. Pure: the callers bring the Room's
memory of drops and the terminals' last contact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

# A kiosk asks for its next lesson every 10 s while it waits (web/static/live/terminal.js);
# missing three of those means it is not there.
WAITING_WITHIN = timedelta(seconds=30)
# A classroom that dropped comes back by itself within this long, or is taken as gone.
RECONNECTING_WITHIN = timedelta(seconds=60)


class ClassroomState(StrEnum):
    in_lesson = "in_lesson"
    reconnecting = "reconnecting"
    waiting = "waiting"
    offline = "offline"


def classroom_state(label: str, present: Iterable[str], dropped: Mapping[str, datetime],
                    last_seen: datetime | None, now: datetime) -> ClassroomState:
    """`present`: the classrooms with a participant in the Room; `dropped`: when a classroom
    last left it without meaning to (its socket died); `last_seen`: its terminals' latest
    contact with the server."""
    if label in set(present):
        return ClassroomState.in_lesson
    left = dropped.get(label)
    if left is not None and now - left <= RECONNECTING_WITHIN:
        return ClassroomState.reconnecting
    if last_seen is not None and now - last_seen <= WAITING_WITHIN:
        return ClassroomState.waiting
    return ClassroomState.offline
