"""The hook a LiveRoom calls as participants come and go, for attendance records.

Like `RecordingStore`, the Room only calls it; what is kept and where (the database, in the
app: server/lifecycle/attendance.py) is not the Room's business. Calls are synchronous and must
not block: they happen inside joins and leaves.
"""

from __future__ import annotations

from typing import Protocol

from ..signalling.codes import LeaveReason
from .participant import Participant


class AttendanceSink(Protocol):
    def joined(self, lesson_id: int, participant: Participant) -> None:
        """`participant` is in the Room from now on."""

    def left(self, lesson_id: int, participant: Participant, reason: LeaveReason) -> None:
        """`participant` left (or was closed out with the Room)."""
