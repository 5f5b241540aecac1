"""The permission policy: what each principal may read and change. Checked on every endpoint.

- admin: everything.
- teacher: reads the directory (schools, classrooms, courses), their school's people, sources
  and timetable; manages their own lessons (teacher_id is theirs).
- observer: reads only the lessons they are invited to.
- inspector: reads everything in their county; changes nothing.
- terminal: reads its own classroom, school and the lessons that classroom takes part in.

Holidays: admins manage every one (everywhere, a county's, a school's); teachers and inspectors
read those that reach their schools (everywhere, their county's, their schools'). Kelian has one
kind of admin, so there are no county or school admins with a narrower reach.

`visible()` gives the SQL condition that scopes a list; `can_change()` decides a write on one
record. Both read only the principal and the record's own columns, so they stay pure.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from ..models import (
    Base,
    Classroom,
    Course,
    Holiday,
    Lesson,
    Role,
    School,
    Source,
    Terminal,
    TimetableEntry,
    User,
    lesson_classroom,
    lesson_observer,
)
from .principal import Principal, PrincipalKind


class Kind(StrEnum):
    """The kinds of record the API and the admin pages manage."""

    school = "school"
    classroom = "classroom"
    terminal = "terminal"
    source = "source"
    user = "user"
    course = "course"
    timetable_entry = "timetable_entry"
    lesson = "lesson"
    holiday = "holiday"


MODELS: dict[Kind, type[Base]] = {
    Kind.school: School,
    Kind.classroom: Classroom,
    Kind.terminal: Terminal,
    Kind.source: Source,
    Kind.user: User,
    Kind.course: Course,
    Kind.timetable_entry: TimetableEntry,
    Kind.lesson: Lesson,
    Kind.holiday: Holiday,
}


def _schools_in_county(county: str | None) -> ColumnElement[bool]:
    return School.id.in_(select(School.id).where(School.county == county))


def _classrooms_of_schools(schools: ColumnElement[bool]) -> ColumnElement[bool]:
    return Classroom.id.in_(select(Classroom.id).join(School).where(schools))


def _school_ids_cond(column: InstrumentedAttribute[Any], schools: ColumnElement[bool]) -> ColumnElement[bool]:
    return column.in_(select(School.id).where(schools))


def _classroom_ids_cond(
    column: InstrumentedAttribute[Any], classrooms: ColumnElement[bool]
) -> ColumnElement[bool]:
    return column.in_(select(Classroom.id).where(classrooms))


def _lessons_touching(classrooms: ColumnElement[bool]) -> ColumnElement[bool]:
    """Lessons hosted in, or linked to, a classroom matching `classrooms`."""
    linked = select(lesson_classroom.c.lesson_id).where(
        lesson_classroom.c.classroom_id.in_(select(Classroom.id).where(classrooms))
    )
    return or_(_classroom_ids_cond(Lesson.host_classroom_id, classrooms), Lesson.id.in_(linked))


def _scoped(kind: Kind, schools: ColumnElement[bool]) -> ColumnElement[bool]:
    """Records belonging to the schools matching `schools` (a county or one school)."""
    classrooms = _classrooms_of_schools(schools)
    match kind:
        case Kind.school:
            return schools
        case Kind.classroom:
            return _school_ids_cond(Classroom.school_id, schools)
        case Kind.terminal:
            return _classroom_ids_cond(Terminal.classroom_id, classrooms)
        case Kind.source:
            return _classroom_ids_cond(Source.classroom_id, classrooms)
        case Kind.user:
            return _school_ids_cond(User.school_id, schools)
        case Kind.course:
            return _school_ids_cond(Course.school_id, schools)
        case Kind.timetable_entry:
            return _classroom_ids_cond(TimetableEntry.hub_classroom_id, classrooms)
        case Kind.lesson:
            return _lessons_touching(classrooms)
        case Kind.holiday:  # the holidays that reach those schools
            return or_(and_(Holiday.school_id.is_(None), Holiday.county.is_(None)),
                       _school_ids_cond(Holiday.school_id, schools),
                       Holiday.county.in_(select(School.county).where(schools)))


def visible(p: Principal, kind: Kind) -> ColumnElement[bool]:
    """SQL condition selecting the records of `kind` that `p` may read."""
    if p.kind is PrincipalKind.terminal:
        own_classroom = Classroom.id == p.classroom_id
        match kind:
            case Kind.classroom:
                return Classroom.id == p.classroom_id
            case Kind.school:
                return School.id == p.school_id
            case Kind.lesson:
                return _lessons_touching(own_classroom)
            case _:
                return false()
    if p.kind is not PrincipalKind.user:
        return false()
    match p.role:
        case Role.admin:
            return true()
        case Role.inspector:
            county = _schools_in_county(p.county)
            if kind is Kind.user:
                return or_(_scoped(kind, county), User.county == p.county)
            return _scoped(kind, county)
        case Role.teacher:
            own_school = School.id == p.school_id
            match kind:
                case Kind.school | Kind.classroom | Kind.course:
                    return true()
                case Kind.terminal:
                    return false()
                case Kind.lesson:
                    return or_(Lesson.teacher_id == p.user_id, _scoped(kind, own_school))
                case Kind.timetable_entry:
                    return or_(TimetableEntry.teacher_id == p.user_id, _scoped(kind, own_school))
                case _:
                    return _scoped(kind, own_school)
        case Role.observer:
            if kind is Kind.lesson:
                invited = select(lesson_observer.c.lesson_id).where(
                    lesson_observer.c.user_id == p.user_id
                )
                return Lesson.id.in_(invited)
            if kind is Kind.user:
                return User.id == p.user_id
            return false()
    return false()


def can_create(p: Principal, kind: Kind) -> bool:
    """Whether `p` may create records of `kind` at all (the record is checked by can_change)."""
    if p.is_admin:
        return True
    return kind is Kind.lesson and p.has_role(Role.teacher)


def can_read_report(p: Principal, lesson: Lesson) -> bool:
    """Whether `p` may read a lesson's attendance and link report (`p` sees the lesson): its
    teacher, admins, and inspectors (who see only their county's lessons)."""
    return p.is_admin or (p.kind is PrincipalKind.user and p.user_id == lesson.teacher_id) \
        or p.has_role(Role.inspector)


def can_change(p: Principal, kind: Kind, record: object) -> bool:
    """Whether `p` may write (create, update, delete) this record as it is now."""
    if p.is_admin:
        return True
    if kind is Kind.lesson and p.has_role(Role.teacher):
        assert isinstance(record, Lesson)
        return record.teacher_id == p.user_id
    return False

