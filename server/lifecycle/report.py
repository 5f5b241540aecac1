"""A lesson's attendance and link quality, as its report shows them.

Attendance rows are stretches of one participant (socket); the report speaks of attendees: a
classroom (its terminal, however often it reconnected) or a person. `connected_seconds` merges
an attendee's stretches, so overlaps (a reconnect racing its own timeout) count once, and a
stretch the server never closed (it died) ends where the next one began, or at the lesson's end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Attendance, LinkSample
from .quality import Grade, grade

AttendeeKey = tuple[str, int | str]  # ("classroom", id) | ("user", id) | ("name", text)


@dataclass(frozen=True)
class Stretch:
    joined: datetime
    left: datetime | None
    identity: str = ""  # the device or person: a classroom may have a terminal and an encoder


def attendee_of(row: Attendance) -> AttendeeKey:
    if row.classroom_id is not None:
        return ("classroom", row.classroom_id)
    if row.user_id is not None:
        return ("user", row.user_id)
    return ("name", row.name)  # its classroom or account was deleted since


def closed_stretches(stretches: Sequence[Stretch], until: datetime) -> list[tuple[datetime, datetime]]:
    """Each stretch with an end: its own, else the next stretch's start, else `until`."""
    ordered = sorted(stretches, key=lambda s: s.joined)
    result = []
    for i, stretch in enumerate(ordered):
        end = stretch.left
        if end is None:
            end = ordered[i + 1].joined if i + 1 < len(ordered) else until
        result.append((stretch.joined, max(stretch.joined, min(end, until))))
    return result


def connected_seconds(stretches: Sequence[Stretch], until: datetime) -> float:
    """The time covered by the stretches (their union), none of it after `until`."""
    total = 0.0
    current: tuple[datetime, datetime] | None = None
    for start, end in sorted(closed_stretches(stretches, until)):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


@dataclass(frozen=True)
class MinuteQuality:
    minute: datetime
    rtt_ms: float | None
    loss_pct: float | None
    jitter_ms: float | None
    down_kbps: float
    up_kbps: float
    fps: float | None = None  # the participant's own reports
    freezes: int = 0

    @property
    def grade(self) -> Grade | None:
        return grade(self.loss_pct, self.rtt_ms, self.jitter_ms)


def _mean(values: Iterable[tuple[float | None, int]]) -> float | None:
    known = [(v, w) for v, w in values if v is not None]
    weight = sum(w for _, w in known)
    return sum(v * w for v, w in known) / weight if weight else None


def merge_minutes(samples: Iterable[LinkSample]) -> list[MinuteQuality]:
    """One attendee's samples per minute (a reconnect within a minute gives it two rows)."""
    by_minute: dict[datetime, list[LinkSample]] = {}
    for sample in samples:
        by_minute.setdefault(sample.minute, []).append(sample)
    merged = []
    for minute in sorted(by_minute):
        rows = by_minute[minute]
        merged.append(MinuteQuality(
            minute=minute,
            rtt_ms=_mean((r.rtt_ms, r.samples) for r in rows),
            loss_pct=max((r.loss_pct for r in rows if r.loss_pct is not None), default=None),
            jitter_ms=_mean((r.jitter_ms, r.samples) for r in rows),
            down_kbps=_mean((r.down_kbps, r.samples) for r in rows) or 0.0,
            up_kbps=_mean((r.up_kbps, r.samples) for r in rows) or 0.0,
            fps=min((r.fps for r in rows if r.fps is not None), default=None),
            freezes=sum(r.freezes for r in rows),
        ))
    return merged


@dataclass
class AttendeeReport:
    key: AttendeeKey
    role: str  # a ParticipantRole value
    name: str  # as the Room showed it (the page prefers the record's current name)
    stretches: list[Stretch] = field(default_factory=list)
    minutes: list[MinuteQuality] = field(default_factory=list)
    first_joined: datetime | None = None
    last_left: datetime | None = None  # None: still there (or never came)
    connected_s: float = 0.0

    @property
    def reconnects(self) -> int:
        """Joins of a device or person after its first: reconnections after a drop (also those
        that replaced a connection not yet timed out), or coming back after leaving. A
        classroom's terminal and its encoder are two devices, not a reconnect."""
        joins: dict[str, int] = {}
        for stretch in self.stretches:
            joins[stretch.identity] = joins.get(stretch.identity, 0) + 1
        return sum(n - 1 for n in joins.values())

    @property
    def freezes(self) -> int:
        """Freezes of the video it showed, from its own reports (terminals send them)."""
        return sum(m.freezes for m in self.minutes)

    @property
    def grade(self) -> Grade | None:
        """The grade most of its minutes had; a poor minute in three makes it poor."""
        grades = [m.grade for m in self.minutes if m.grade is not None]
        if not grades:
            return None
        poor, fair = grades.count(Grade.poor), grades.count(Grade.fair)
        if poor * 3 >= len(grades):
            return Grade.poor
        if (poor + fair) * 3 >= len(grades):
            return Grade.fair
        return Grade.good


async def attendance_report(db: AsyncSession, lesson_id: int, until: datetime, live: bool
                            ) -> dict[AttendeeKey, AttendeeReport]:
    """Everyone who was in the lesson's Room; `until` caps open stretches (the lesson's end,
    or now while it is `live`: then an open stretch means still there)."""
    rows = list(await db.scalars(select(Attendance).where(Attendance.lesson_id == lesson_id)
                                 .order_by(Attendance.joined_at, Attendance.id)))
    reports: dict[AttendeeKey, AttendeeReport] = {}
    owner: dict[str, AttendeeKey] = {}
    for row in rows:
        key = attendee_of(row)
        report = reports.setdefault(key, AttendeeReport(key, row.role, row.name))
        report.stretches.append(Stretch(row.joined_at, row.left_at, row.identity))
        owner[row.participant_id] = key
    samples: dict[AttendeeKey, list[LinkSample]] = {}
    for sample in await db.scalars(select(LinkSample).where(LinkSample.lesson_id == lesson_id)
                                   .order_by(LinkSample.minute)):
        key = owner.get(sample.participant_id)
        if key is not None:
            samples.setdefault(key, []).append(sample)
    for key, report in reports.items():
        closed = closed_stretches(report.stretches, until)
        report.first_joined = closed[0][0]
        still_there = live and report.stretches[-1].left is None
        report.last_left = None if still_there else max(end for _, end in closed)
        report.connected_s = connected_seconds(report.stretches, until)
        report.minutes = merge_minutes(samples.get(key, []))
    return reports
