"""The join alarm: linked classrooms that did not join their live lesson.

A linked classroom of a live lesson that has no attendance at all `join_alarm_min` after the
lesson went live (counted from its planned start at the earliest: the doors open a few minutes
early and nobody is late before the bell) has failed to join. The scheduler records it once per
lesson and classroom (`JoinFailure`) and tells the teacher; a classroom that joins after all
keeps its record with `joined_at`, so it reads "joined 7 min late" rather than vanishing.

Attendance reaches the database a few seconds after a join (`AttendanceLog` writes in
batches), so a classroom in the Room right now counts as joined whatever the table says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..models import (
    Attendance,
    Classroom,
    JoinFailure,
    Lesson,
    LessonStatus,
    School,
    Source,
    Terminal,
    lesson_classroom,
)
from .attendance import who

# Late joins are looked for this long after detection: the Room's lesson is over by then.
LATE_JOIN_WINDOW = timedelta(hours=12)

Present = Callable[[int], Iterable[str]]  # lesson id -> identities in its Room now


@dataclass(frozen=True)
class Missing:
    """A linked classroom that has just been found not to have joined."""

    lesson_id: int
    classroom_id: int
    label: str  # "School · Classroom", as the Room names a classroom's terminal


def alarm_at(planned_start: datetime, actual_start: datetime | None,
             alarm: timedelta) -> datetime:
    live_from = planned_start if actual_start is None else max(planned_start, actual_start)
    return live_from + alarm


async def _in_room(db: AsyncSession, identities: Iterable[str]) -> set[int]:
    """The classrooms whose terminals or sources are among these identities."""
    named = [w for i in identities if (w := who(i)) is not None]
    found: set[int] = set()
    for kind, model in (("terminal", Terminal), ("source", Source)):
        ids = [i for k, i in named if k == kind]
        if ids:
            found.update(await db.scalars(select(model.classroom_id).where(model.id.in_(ids))))
    return found


async def _candidates(db: AsyncSession, now: datetime, alarm: timedelta
                      ) -> list[Missing]:
    """Linked classrooms of live lessons past their alarm with no attendance and no record."""
    rows = (await db.execute(select(Lesson.id, Lesson.planned_start, Lesson.actual_start)
                             .where(Lesson.status == LessonStatus.live))).all()
    due = [i for i, planned, actual in rows if now >= alarm_at(planned, actual, alarm)]
    if not due:
        return []
    came = exists().where(Attendance.lesson_id == lesson_classroom.c.lesson_id,
                          Attendance.classroom_id == lesson_classroom.c.classroom_id)
    known = exists().where(JoinFailure.lesson_id == lesson_classroom.c.lesson_id,
                           JoinFailure.classroom_id == lesson_classroom.c.classroom_id)
    result = await db.execute(
        select(lesson_classroom.c.lesson_id, Classroom.id, School.name, Classroom.name)
        .join(Classroom, Classroom.id == lesson_classroom.c.classroom_id)
        .join(School, School.id == Classroom.school_id)
        .where(lesson_classroom.c.lesson_id.in_(due), ~came, ~known)
        .order_by(lesson_classroom.c.lesson_id, Classroom.id))
    return [Missing(lesson, room, f"{school} · {name}") for lesson, room, school, name in result]


async def detect(sessions: async_sessionmaker[AsyncSession], now: datetime, alarm: timedelta,
                 present: Present) -> list[Missing]:
    """Record the classrooms that have failed to join by `now`; returns the new records only
    (another node, or an earlier tick, may have recorded some first)."""
    async with sessions() as db:
        found = await _candidates(db, now, alarm)
        here: dict[int, set[int]] = {}
        for m in found:
            if m.lesson_id not in here:
                here[m.lesson_id] = await _in_room(db, present(m.lesson_id))
    recorded: list[Missing] = []
    for m in found:
        if m.classroom_id in here[m.lesson_id]:
            continue  # joined seconds ago; its attendance is not written yet
        # One transaction each (no savepoints: SQLite's driver handles them poorly).
        async with sessions() as db:
            db.add(JoinFailure(lesson_id=m.lesson_id, classroom_id=m.classroom_id,
                               detected_at=now))
            try:
                await db.commit()
            except IntegrityError:
                await db.rollback()
                continue
        recorded.append(m)
    return recorded


async def note_late_joins(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Fill `joined_at` of recent records whose classroom has joined since; returns how many.
    Every tick: a read first, so SQLite is not write-locked when there is nothing to do."""
    came = exists().where(Attendance.lesson_id == JoinFailure.lesson_id,
                          Attendance.classroom_id == JoinFailure.classroom_id)
    async with sessions() as db:
        ids = list(await db.scalars(select(JoinFailure.id).where(
            JoinFailure.joined_at.is_(None), JoinFailure.detected_at >= now - LATE_JOIN_WINDOW,
            came)))
        if not ids:
            return 0
        first = (select(func.min(Attendance.joined_at))
                 .where(Attendance.lesson_id == JoinFailure.lesson_id,
                        Attendance.classroom_id == JoinFailure.classroom_id)
                 .scalar_subquery())
        await db.execute(update(JoinFailure).where(JoinFailure.id.in_(ids))
                         .values(joined_at=first).execution_options(synchronize_session=False))
        await db.commit()
    return len(ids)
