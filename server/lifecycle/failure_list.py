"""Failed joins read back (`JoinFailure`): the recent ones a school sees on its home page, and one
day's for the bureau's daily summary, each scoped to what the reader oversees.

Scope: admins oversee every school, inspectors their county's, a teacher their own school's
classrooms and the lessons they teach (Kelian has no school or county admin roles). Others
(observers) see none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.principal import Principal
from ..models import Classroom, JoinFailure, Lesson, Role, School, User

RECENT = timedelta(days=7)  # how far back the home page looks


@dataclass(frozen=True)
class FailedJoin:
    lesson_id: int
    title: str
    teacher: str  # the hub teacher's display name
    planned_start: datetime  # UTC
    live_from: datetime  # when the lesson went live, the planned start at the earliest
    detected_at: datetime
    joined_at: datetime | None  # came after all
    classroom: str
    school_id: int
    school: str
    county: str
    time_zone: str  # the missed classroom's school's

    @property
    def minutes_late(self) -> int | None:
        if self.joined_at is None:
            return None
        return max(0, round((self.joined_at - self.live_from).total_seconds() / 60))


@dataclass
class SchoolFailures:
    school: str
    county: str
    items: list[FailedJoin] = field(default_factory=list)

    @property
    def joined_late(self) -> int:
        return sum(1 for f in self.items if f.joined_at is not None)


def scope(who: Principal) -> ColumnElement[bool]:
    """Which failed joins `who` oversees, as a condition on Classroom and Lesson."""
    if who.has_role(Role.admin):
        return true()
    if who.has_role(Role.inspector):
        return School.county == who.county if who.county else false()
    if who.has_role(Role.teacher):
        own = Classroom.school_id == who.school_id if who.school_id is not None else false()
        return or_(own, Lesson.teacher_id == who.user_id)
    return false()


async def failed_joins(db: AsyncSession, where: ColumnElement[bool], since: datetime,
                       until: datetime, limit: int = 500) -> list[FailedJoin]:
    """Failed joins detected in [since, until) that match `where`, newest first."""
    rows = await db.execute(
        select(JoinFailure, Lesson.title, Lesson.planned_start, Lesson.actual_start,
               User.display_name, Classroom.name, School.id, School.name, School.county,
               School.time_zone)
        .join(Lesson, Lesson.id == JoinFailure.lesson_id)
        .join(User, User.id == Lesson.teacher_id)
        .join(Classroom, Classroom.id == JoinFailure.classroom_id)
        .join(School, School.id == Classroom.school_id)
        .where(JoinFailure.detected_at >= since, JoinFailure.detected_at < until, where)
        .order_by(JoinFailure.detected_at.desc(), JoinFailure.id.desc())
        .limit(limit))
    found = []
    for failure, title, planned, actual, teacher, room, school_id, school, county, tz in rows:
        live_from = planned if actual is None else max(planned, actual)
        found.append(FailedJoin(failure.lesson_id, title, teacher, planned, live_from,
                                failure.detected_at, failure.joined_at, room, school_id, school,
                                county, tz))
    return found


def by_school(failures: list[FailedJoin]) -> list[SchoolFailures]:
    """Grouped by county and school (by name), each school's in lesson order."""
    groups: dict[int, SchoolFailures] = {}
    for f in failures:
        groups.setdefault(f.school_id, SchoolFailures(f.school, f.county)).items.append(f)
    for group in groups.values():
        group.items.sort(key=lambda f: (f.planned_start, f.classroom))
    return sorted(groups.values(), key=lambda g: (g.county, g.school))

