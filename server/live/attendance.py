"""The hook a LiveRoom calls as participants come and go, for attendance records.

Like `RecordingStore`, the Room only calls it; what is kept and where (the database, in the
app: server/lifecycle/attendance.py) is not the Room's business. Calls are synchronous and must
not block: they happen inside joins and leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..signalling.codes import LeaveReason
from .participant import Participant


@dataclass(frozen=True)
class ViewerReport:
    """A participant's own measurement of what it shows (see `stats.report`)."""

    fps: float | None
    freezes: int
    freeze_ms: int


class AttendanceSink(Protocol):
    def joined(self, lesson_id: int, participant: Participant) -> None:
        """`participant` is in the Room from now on."""

    def left(self, lesson_id: int, participant: Participant, reason: LeaveReason) -> None:
        """`participant` left (or was closed out with the Room)."""

    def reported(self, lesson_id: int, participant_id: str, report: ViewerReport) -> None:
        """`participant_id` sent its own figures of what it receives."""
