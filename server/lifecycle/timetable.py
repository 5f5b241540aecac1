"""The timetable, expanded into Lessons: which lessons the weekly entries give on which days.

`expand` and `plan` are pure. `expand` turns timetable entries (`WeeklySlot`) and the calendar
(`DayOff`: holidays and swapped working days, per school, county or everywhere) into the
`Occurrence`s of a time window, at local wall-clock times in the host school's zone (DST-safe).
`plan` compares them with the lessons already generated, keyed by (entry, timetable slot):

- an occurrence with no lesson yet is created;
- a lesson is never changed, except that a scheduled one the timetable no longer gives (a
  holiday was added, the entry moved or its term shortened) is cancelled, and only if nobody
  moved it by hand (its planned start is still its slot). Edits of any other kind survive;
- a lesson moved by hand keeps its slot, so its original time is not filled again; a cancelled
  one stays cancelled (deleting a generated lesson lets the timetable make it again).

`generate_lessons` does both against the database (the caller commits).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..models import (
    Classroom,
    Holiday,
    Lesson,
    LessonKind,
    LessonStatus,
    TimetableEntry,
)
from ..services.specs import RECORDED_BY_DEFAULT

# Generated lessons are named after their course and kind, as the schools write them.
KIND_TITLES = {
    LessonKind.dedicated: "专递课堂",
    LessonKind.master_teacher: "名师课堂",
    LessonKind.famous_school: "名校网络课堂",
}


@dataclass(frozen=True)
class WeeklySlot:
    """A timetable entry as the expansion needs it."""

    entry_id: int
    weekday: int  # ISO: 1 = Monday
    start: time
    end: time
    term_start: date
    term_end: date
    zone: str  # the host school's time zone
    school_id: int | None = None
    county: str | None = None


@dataclass(frozen=True)
class DayOff:
    """A day the usual timetable does not run (see `Holiday`)."""

    day: date
    school_id: int | None = None
    county: str | None = None
    teaches_weekday: int | None = None  # a swapped working day teaches this weekday instead


@dataclass(frozen=True)
class Occurrence:
    entry_id: int
    day: date  # local, in the entry's zone
    start: datetime  # aware UTC
    end: datetime

    @property
    def key(self) -> tuple[int, datetime]:
        return self.entry_id, self.start


@dataclass(frozen=True)
class Existing:
    """A lesson generated earlier, as `plan` needs it."""

    lesson_id: int
    entry_id: int
    slot: datetime | None  # None: generated before slots were kept; its start stands in
    planned_start: datetime
    status: LessonStatus


@dataclass
class Plan:
    create: list[Occurrence] = field(default_factory=list)
    withdraw: list[int] = field(default_factory=list)  # lesson ids to cancel


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time. A time skipped by a spring-forward change lands
    after the gap (02:30 becomes 03:30); a repeated autumn time takes its first occurrence."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _specificity(off: DayOff) -> int:
    return 2 if off.school_id is not None else 1 if off.county is not None else 0


def calendar_for(days_off: Iterable[DayOff], school_id: int | None,
                 county: str | None) -> dict[date, DayOff]:
    """The days off that apply to one school: its own, its county's and everyone's, the most
    specific row of each day winning (a school's swapped day beats its county's holiday)."""
    chosen: dict[date, DayOff] = {}
    for off in days_off:
        applies = (off.school_id == school_id if off.school_id is not None
                   else off.county == county if off.county is not None else True)
        if not applies:
            continue
        current = chosen.get(off.day)
        if current is None or _specificity(off) > _specificity(current):
            chosen[off.day] = off
    return chosen


def taught_weekday(day: date, calendar: dict[date, DayOff]) -> int | None:
    """Whose weekday's timetable runs on `day`: None on a holiday."""
    off = calendar.get(day)
    if off is None:
        return day.isoweekday()
    return off.teaches_weekday


def expand(slots: Iterable[WeeklySlot], days_off: Sequence[DayOff], since: datetime,
           until: datetime) -> list[Occurrence]:
    """Every occurrence starting in [since, until), in start order."""
    found: list[Occurrence] = []
    calendars: dict[tuple[int | None, str | None], dict[date, DayOff]] = {}
    for slot in slots:
        zone = ZoneInfo(slot.zone)
        key = (slot.school_id, slot.county)
        if key not in calendars:
            calendars[key] = calendar_for(days_off, *key)
        calendar = calendars[key]
        # Local days that can hold a start in the window, whatever the zone's offset.
        first = max(slot.term_start, since.astimezone(zone).date())
        last = min(slot.term_end, until.astimezone(zone).date())
        day = first
        while day <= last:
            if taught_weekday(day, calendar) == slot.weekday:
                start = local_instant(day, slot.start, zone)
                if since <= start < until:
                    found.append(Occurrence(slot.entry_id, day, start,
                                            local_instant(day, slot.end, zone)))
            day += timedelta(days=1)
    found.sort(key=lambda o: (o.start, o.entry_id))
    return found


def plan(occurrences: Iterable[Occurrence], existing: Iterable[Existing], since: datetime,
         until: datetime) -> Plan:
    """What to create and what to cancel so the window [since, until) follows the timetable."""
    wanted = {o.key: o for o in occurrences}
    taken: set[tuple[int, datetime]] = set()
    result = Plan()
    for lesson in existing:
        slot = lesson.slot or lesson.planned_start
        taken.add((lesson.entry_id, slot))
        taken.add((lesson.entry_id, lesson.planned_start))  # a moved lesson blocks its new time
        untouched = slot == lesson.planned_start and lesson.status is LessonStatus.scheduled
        if untouched and since <= slot < until and (lesson.entry_id, slot) not in wanted:
            result.withdraw.append(lesson.lesson_id)
    result.create = [o for key, o in wanted.items() if key not in taken]
    return result


# Against the database ------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    created: int
    cancelled: int


def lesson_title(entry: TimetableEntry) -> str:
    return f"{entry.course.name}（{KIND_TITLES[entry.kind]}）"


async def generate_lessons(db: AsyncSession, since: datetime, until: datetime) -> Generated:
    """Create the lessons the timetable gives in [since, until) and cancel the scheduled ones it
    no longer gives (see `plan`). Flushes; the caller commits. Two nodes doing this at once
    collide on the unique (entry, slot): one commit fails and the next run finds the lessons."""
    day_from = (since - timedelta(days=1)).date()
    day_to = (until + timedelta(days=1)).date()
    entries = list(await db.scalars(
        select(TimetableEntry)
        .where(TimetableEntry.term_end >= day_from, TimetableEntry.term_start <= day_to)
        .options(selectinload(TimetableEntry.course),
                 selectinload(TimetableEntry.linked_classrooms),
                 selectinload(TimetableEntry.hub_classroom).selectinload(Classroom.school))
    ))
    if not entries:
        return Generated(0, 0)
    by_id = {entry.id: entry for entry in entries}
    slots = [WeeklySlot(e.id, e.weekday, e.start_time, e.end_time, e.term_start, e.term_end,
                        e.hub_classroom.school.time_zone, e.hub_classroom.school_id,
                        e.hub_classroom.school.county) for e in entries]
    days_off = [DayOff(h.day, h.school_id, h.county, h.teaches_weekday)
                for h in await db.scalars(
                    select(Holiday).where(Holiday.day >= day_from, Holiday.day <= day_to))]
    near = (since - timedelta(days=1), until + timedelta(days=1))
    rows = await db.execute(
        select(Lesson.id, Lesson.timetable_entry_id, Lesson.timetable_slot, Lesson.planned_start,
               Lesson.status)
        .where(Lesson.timetable_entry_id.in_(by_id),
               or_(Lesson.timetable_slot.between(*near), Lesson.planned_start.between(*near)))
    )
    existing = [Existing(*row) for row in rows]
    todo = plan(expand(slots, days_off, since, until), existing, since, until)

    for occurrence in todo.create:
        entry = by_id[occurrence.entry_id]
        db.add(Lesson(
            title=lesson_title(entry), kind=entry.kind, course_id=entry.course_id,
            timetable_entry_id=entry.id, timetable_slot=occurrence.start,
            teacher_id=entry.teacher_id, host_classroom_id=entry.hub_classroom_id,
            planned_start=occurrence.start, planned_end=occurrence.end,
            linked_classrooms=list(entry.linked_classrooms),
            record=entry.kind in RECORDED_BY_DEFAULT,
        ))
    cancelled = 0
    if todo.withdraw:
        result = await db.execute(
            update(Lesson).where(Lesson.id.in_(todo.withdraw),
                                 Lesson.status == LessonStatus.scheduled)
            .values(status=LessonStatus.cancelled).execution_options(synchronize_session=False))
        cancelled = result.rowcount  # type: ignore[attr-defined]
    await db.flush()
    return Generated(len(todo.create), cancelled)
