"""Usage of the platform over a period, for the bureau's oversight page: per county, school and
teaching point, how many lessons were planned, held and cancelled, the hours taught, how many
linked classrooms came, the recordings and their views, and the lessons with a poor link.

A lesson counts for every school it touches: the host's and each linked classroom's. A county
counts each of its lessons once. Which period a lesson falls in is decided by its planned
start's local date in its host school's time zone.

Everything is read with a handful of queries scoped by subqueries (no long lists of ids, which
PostgreSQL caps) and summed up in Python, so both backends give the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import (
    Attendance,
    Classroom,
    Lesson,
    LessonStatus,
    LinkSample,
    Resource,
    ResourceState,
    School,
    SchoolKind,
    lesson_classroom,
)
from .quality import Grade
from .report import merge_minutes

# A classroom whose link was poor for more than this share of its graded minutes made the
# lesson a poor-link lesson (for its school).
POOR_SHARE = 0.2
HELD = (LessonStatus.live, LessonStatus.ended)


@dataclass(frozen=True)
class Period:
    first: date  # local dates, both included
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass
class Usage:
    """The figures of one school, or of a county, or of all."""

    planned: int = 0  # lessons in the period, whatever became of them
    held: int = 0  # went live
    cancelled: int = 0
    minutes: float = 0.0  # actual durations of held lessons
    expected: int = 0  # linked classrooms of held lessons
    joined: int = 0  # of those, the ones that joined at all
    recordings: int = 0
    views: int = 0
    poor_link: int = 0  # held lessons with a classroom whose link was mostly poor

    @property
    def hours(self) -> float:
        return self.minutes / 60

    @property
    def attendance(self) -> float | None:
        """The share of linked classrooms that joined; None when none was expected."""
        return self.joined / self.expected if self.expected else None


@dataclass
class SchoolUsage:
    id: int
    name: str
    kind: SchoolKind
    county: str
    hub_name: str | None
    usage: Usage = field(default_factory=Usage)

    @property
    def uncovered(self) -> bool:
        """A teaching point that held no lesson: the plan wants every point covered."""
        return self.kind is SchoolKind.teaching_point and self.usage.held == 0


@dataclass
class CountyUsage:
    county: str
    usage: Usage
    schools: list[SchoolUsage]

    @property
    def uncovered(self) -> list[SchoolUsage]:
        return [s for s in self.schools if s.uncovered]


@dataclass(frozen=True)
class Week:
    monday: date
    planned: int
    held: int


@dataclass
class UsageReport:
    period: Period
    total: Usage
    counties: list[CountyUsage]
    weeks: list[Week]


@dataclass
class _Lesson:
    id: int
    status: LessonStatus
    day: date
    minutes: float
    classrooms: set[int]  # host and linked
    linked: set[int]
    joined: set[int] = field(default_factory=set)
    poor: set[int] = field(default_factory=set)  # classrooms with a mostly poor link
    recordings: int = 0
    views: int = 0

    @property
    def held(self) -> bool:
        return self.status in HELD


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


def _add(usage: Usage, lesson: _Lesson, classrooms: set[int] | None) -> None:
    """Count `lesson` in `usage`, for the classrooms in `classrooms` (None: all of them)."""
    def mine(ids: set[int]) -> set[int]:
        return ids if classrooms is None else ids & classrooms

    usage.planned += 1
    usage.cancelled += lesson.status is LessonStatus.cancelled
    if not lesson.held:
        return
    usage.held += 1
    usage.minutes += lesson.minutes
    usage.expected += len(mine(lesson.linked))
    usage.joined += len(mine(lesson.linked) & lesson.joined)
    usage.poor_link += bool(mine(lesson.poor))
    usage.recordings += lesson.recordings
    usage.views += lesson.views


def _poor(minutes_grades: Iterable[Grade | None]) -> bool:
    graded = [g for g in minutes_grades if g is not None]
    return bool(graded) and graded.count(Grade.poor) > POOR_SHARE * len(graded)


async def usage_report(db: AsyncSession, period: Period, county: str | None,
                       default_zone: ZoneInfo, now: datetime) -> UsageReport:
    """The figures of `county`'s schools (every county's when None) over `period`. A lesson
    still live counts its duration until `now`."""
    school_q = select(School).order_by(School.county, School.name)
    if county is not None:
        school_q = school_q.where(School.county == county)
    schools = list(await db.scalars(school_q))
    hub_names = dict((await db.execute(select(School.id, School.name))).all())
    room_q = select(Classroom.id).join(School).where(
        School.county == county if county is not None else true())
    room_school = dict((await db.execute(
        select(Classroom.id, Classroom.school_id).where(Classroom.id.in_(room_q)))).all())

    # A day's margin either side: any zone's local dates fit, then each lesson is placed exactly.
    since = datetime.combine(period.first, time(0), UTC) - timedelta(days=1)
    until = datetime.combine(period.last, time(0), UTC) + timedelta(days=2)
    linked_q = select(lesson_classroom.c.lesson_id).where(
        lesson_classroom.c.classroom_id.in_(room_q))
    lesson_q: Select[tuple[int]] = select(Lesson.id).where(
        Lesson.planned_start >= since, Lesson.planned_start < until,
        or_(Lesson.host_classroom_id.in_(room_q), Lesson.id.in_(linked_q)))

    host_zone = select(Classroom.id, School.time_zone).join(School).subquery()
    rows = (await db.execute(
        select(Lesson.id, Lesson.status, Lesson.planned_start, Lesson.actual_start,
               Lesson.actual_end, Lesson.host_classroom_id, host_zone.c.time_zone)
        .join(host_zone, host_zone.c.id == Lesson.host_classroom_id)
        .where(Lesson.id.in_(lesson_q)))).all()
    linked: dict[int, set[int]] = {}
    for lesson_id, classroom_id in (await db.execute(
            select(lesson_classroom.c.lesson_id, lesson_classroom.c.classroom_id)
            .where(lesson_classroom.c.lesson_id.in_(lesson_q)))):
        linked.setdefault(lesson_id, set()).add(classroom_id)

    lessons: dict[int, _Lesson] = {}
    for lesson_id, status, planned_start, actual_start, actual_end, host, tz_name in rows:
        day = planned_start.astimezone(_zone(tz_name, default_zone)).date()
        if not period.first <= day <= period.last:
            continue
        minutes = 0.0
        if status in HELD and actual_start is not None:
            end = actual_end or (now if status is LessonStatus.live else actual_start)
            minutes = max(0.0, (end - actual_start).total_seconds() / 60)
        ids = linked.get(lesson_id, set())
        lessons[lesson_id] = _Lesson(lesson_id, status, day, minutes, ids | {host}, ids)

    participants: dict[tuple[int, str], int] = {}
    for lesson_id, participant, classroom_id in (await db.execute(
            select(Attendance.lesson_id, Attendance.participant_id, Attendance.classroom_id)
            .where(Attendance.lesson_id.in_(lesson_q), Attendance.classroom_id.is_not(None))
    )):
        if lesson_id in lessons:
            lessons[lesson_id].joined.add(classroom_id)
            participants[(lesson_id, participant)] = classroom_id

    samples: dict[tuple[int, int], list[LinkSample]] = {}
    for sample in await db.scalars(select(LinkSample).where(LinkSample.lesson_id.in_(lesson_q))):
        classroom_id = participants.get((sample.lesson_id, sample.participant_id))
        if classroom_id is not None:
            samples.setdefault((sample.lesson_id, classroom_id), []).append(sample)
    for (lesson_id, classroom_id), rows_of in samples.items():
        if _poor(m.grade for m in merge_minutes(rows_of)):
            lessons[lesson_id].poor.add(classroom_id)

    for lesson_id, count, views in (await db.execute(
            select(Resource.lesson_id, func.count(), func.coalesce(func.sum(Resource.views), 0))
            .where(Resource.lesson_id.in_(lesson_q), Resource.state != ResourceState.failed)
            .group_by(Resource.lesson_id))):
        if lesson_id in lessons:
            lessons[lesson_id].recordings, lessons[lesson_id].views = int(count), int(views)

    by_school = {s.id: SchoolUsage(s.id, s.name, s.kind, s.county,
                                   hub_names.get(s.hub_school_id) if s.hub_school_id else None)
                 for s in schools}
    rooms_of: dict[int, set[int]] = {}
    for room, school_id in room_school.items():
        rooms_of.setdefault(school_id, set()).add(room)
    county_of = {s.id: s.county for s in schools}
    totals: dict[str, Usage] = {s.county: Usage() for s in schools}
    total = Usage()
    for lesson in lessons.values():
        touched = {room_school[c] for c in lesson.classrooms if c in room_school}
        for school_id in touched:
            _add(by_school[school_id].usage, lesson, rooms_of[school_id])
        for name in {county_of[s] for s in touched}:
            in_county = set().union(*(rooms_of[s] for s in touched if county_of[s] == name))
            _add(totals[name], lesson, in_county)
        _add(total, lesson, None if county is None else set(room_school))

    counties = [CountyUsage(name, usage, [s for s in by_school.values() if s.county == name])
                for name, usage in sorted(totals.items())]
    return UsageReport(period, total, counties, _weeks(period, lessons.values()))


def _weeks(period: Period, lessons: Iterable[_Lesson]) -> list[Week]:
    """Planned and held lessons per week (weeks start on Monday), across the period."""
    first = period.first - timedelta(days=period.first.weekday())
    mondays = [first + timedelta(weeks=i) for i in range((period.last - first).days // 7 + 1)]
    planned = dict.fromkeys(mondays, 0)
    held = dict.fromkeys(mondays, 0)
    for lesson in lessons:
        monday = lesson.day - timedelta(days=lesson.day.weekday())
        planned[monday] += 1
        held[monday] += lesson.held
    return [Week(m, planned[m], held[m]) for m in mondays]
