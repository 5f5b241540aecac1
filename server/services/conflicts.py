"""Booking conflicts: a classroom or a teacher cannot be in two places at once.

A lesson overlapping another non-cancelled lesson in time may not share its host or linked
classrooms nor its teacher; a timetable entry may not share a classroom or teacher with another
entry on the same weekday at an overlapping time within overlapping terms. Times touching end to
start do not overlap. The checks run only when a write sets the fields they look at, so editing
e.g. the title of a lesson that an older import left overlapping stays possible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import FieldError
from ..models import Classroom, Course, Lesson, LessonStatus, School, TimetableEntry
from ..models.teaching import lesson_classroom, timetable_entry_classroom

_LESSON_FIELDS = ("planned_start", "planned_end", "host_classroom_id", "linked_classrooms",
                  "teacher_id", "status")
_ENTRY_FIELDS = ("weekday", "start_time", "end_time", "term_start", "term_end",
                 "hub_classroom_id", "linked_classrooms", "teacher_id")


def _changes_any(record: Any, names: Iterable[str]) -> bool:
    """True for a new record, or when this write changed one of `names`."""
    state = inspect(record)
    if state.transient or state.pending:
        return True
    return any(state.attrs[name].history.has_changes() for name in names)


async def _room_names(db: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    rows = await db.execute(select(Classroom.id, Classroom.name).where(Classroom.id.in_(set(ids))))
    return {room_id: name for room_id, name in rows}


async def _linked(db: AsyncSession, table: Any, key: str, ids: list[int]) -> dict[int, set[int]]:
    """Linked classroom ids per record id, from an association table."""
    found: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        column = table.c[key]
        for record_id, room_id in (await db.execute(
                select(column, table.c.classroom_id).where(column.in_(ids)))):
            found[record_id].add(room_id)
    return found


def _clash_errors(mine_host: int, mine_linked: set[int], rooms_of_other: set[int],
                  same_teacher: bool, host_field: str, room_message: Callable[[str], str],
                  teacher_message: str, names: dict[int, str],
                  errors: dict[str, FieldError]) -> None:
    """Add at most one error per field (the earliest conflict, as the caller sorts them)."""
    if mine_host in rooms_of_other and host_field not in errors:
        errors[host_field] = FieldError(host_field, room_message(names.get(mine_host, "?")))
    shared = sorted(mine_linked & rooms_of_other)
    if shared and "linked_classroom_ids" not in errors:
        errors["linked_classroom_ids"] = FieldError(
            "linked_classroom_ids", room_message(names.get(shared[0], "?")))
    if same_teacher and "teacher_id" not in errors:
        errors["teacher_id"] = FieldError("teacher_id", teacher_message)


def _span(start: datetime, end: datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    return f"{local_start:%Y-%m-%d %H:%M}–{local_end:%H:%M} {zone}"


async def lesson_conflicts(db: AsyncSession, lesson: Lesson) -> list[FieldError]:
    """Other non-cancelled lessons overlapping `lesson` in a classroom or by its teacher."""
    if lesson.status is LessonStatus.cancelled or not _changes_any(lesson, _LESSON_FIELDS):
        return []
    linked = {c.id for c in lesson.linked_classrooms}
    rooms = {lesson.host_classroom_id, *linked}
    in_rooms = select(lesson_classroom.c.lesson_id).where(lesson_classroom.c.classroom_id.in_(rooms))
    stmt: Select[Any] = (
        select(Lesson.id, Lesson.title, Lesson.planned_start, Lesson.planned_end,
               Lesson.host_classroom_id, Lesson.teacher_id, School.time_zone)
        .join(Classroom, Classroom.id == Lesson.host_classroom_id)
        .join(School, School.id == Classroom.school_id)
        .where(Lesson.status != LessonStatus.cancelled,
               Lesson.planned_start < lesson.planned_end,
               Lesson.planned_end > lesson.planned_start,
               or_(Lesson.host_classroom_id.in_(rooms), Lesson.id.in_(in_rooms),
                   Lesson.teacher_id == lesson.teacher_id))
        .order_by(Lesson.planned_start, Lesson.id)
    )
    if lesson.id is not None:
        stmt = stmt.where(Lesson.id != lesson.id)
    with db.no_autoflush:  # an edited lesson is compared, not written, here
        others = [tuple(row) for row in await db.execute(stmt)]
        if not others:
            return []
        other_linked = await _linked(db, lesson_classroom, "lesson_id", [o[0] for o in others])
        names = await _room_names(db, rooms)
    errors: dict[str, FieldError] = {}
    for other_id, title, start, end, host, teacher_id, zone in others:
        detail = f"lesson {other_id} “{title}” on {_span(start, end, zone)}"
        _clash_errors(lesson.host_classroom_id, linked, {host, *other_linked[other_id]},
                      teacher_id == lesson.teacher_id, "host_classroom_id",
                      lambda room, d=detail: f"classroom “{room}” is taken by {d}",
                      f"the teacher teaches {detail}", names, errors)
    return list(errors.values())


def _clock(start: time, end: time) -> str:
    return f"{start:%H:%M}–{end:%H:%M}"


async def timetable_conflicts(db: AsyncSession, entry: TimetableEntry) -> list[FieldError]:
    """Other entries on the same weekday, overlapping in time and term, sharing a classroom
    or the teacher. Times are the host schools' wall-clock times, compared as they are."""
    if not _changes_any(entry, _ENTRY_FIELDS):
        return []
    linked = {c.id for c in entry.linked_classrooms}
    rooms = {entry.hub_classroom_id, *linked}
    link = timetable_entry_classroom
    in_rooms = select(link.c.timetable_entry_id).where(link.c.classroom_id.in_(rooms))
    stmt: Select[Any] = (
        select(TimetableEntry.id, Course.name, TimetableEntry.start_time, TimetableEntry.end_time,
               TimetableEntry.hub_classroom_id, TimetableEntry.teacher_id)
        .join(Course, Course.id == TimetableEntry.course_id)
        .where(TimetableEntry.weekday == entry.weekday,
               TimetableEntry.start_time < entry.end_time,
               TimetableEntry.end_time > entry.start_time,
               TimetableEntry.term_start <= entry.term_end,
               TimetableEntry.term_end >= entry.term_start,
               or_(TimetableEntry.hub_classroom_id.in_(rooms), TimetableEntry.id.in_(in_rooms),
                   TimetableEntry.teacher_id == entry.teacher_id))
        .order_by(TimetableEntry.start_time, TimetableEntry.id)
    )
    if entry.id is not None:
        stmt = stmt.where(TimetableEntry.id != entry.id)
    with db.no_autoflush:
        others = [tuple(row) for row in await db.execute(stmt)]
        if not others:
            return []
        other_linked = await _linked(db, link, "timetable_entry_id", [o[0] for o in others])
        names = await _room_names(db, rooms)
    errors: dict[str, FieldError] = {}
    for other_id, course, start, end, hub, teacher_id in others:
        clock = _clock(start, end)
        detail = f"timetable entry {other_id} “{course}” at {clock} on the same weekday and term"
        _clash_errors(entry.hub_classroom_id, linked, {hub, *other_linked[other_id]},
                      teacher_id == entry.teacher_id, "hub_classroom_id",
                      lambda room, d=detail: f"classroom “{room}” is taken by {d}",
                      "the teacher has " + detail, names, errors)
    return list(errors.values())
