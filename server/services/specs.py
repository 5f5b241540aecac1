"""The record kinds: their schemas, references, filters and rules. One `RecordSpec` per kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.policy import Kind
from ..auth.principal import Principal
from ..auth.secrets import hash_password_off_loop, new_stream_key
from ..errors import ErrorCode, FieldError, KelianError
from ..models import (
    Classroom,
    Course,
    Holiday,
    Lesson,
    LessonKind,
    LessonStatus,
    Role,
    School,
    SchoolKind,
    Source,
    SourceKind,
    Terminal,
    TimetableEntry,
    User,
)
from ..schemas import (
    ClassroomIn,
    ClassroomOut,
    ClassroomPatch,
    CourseIn,
    CourseOut,
    CoursePatch,
    HolidayIn,
    HolidayOut,
    HolidayPatch,
    LessonIn,
    LessonOut,
    LessonPatch,
    SchoolIn,
    SchoolOut,
    SchoolPatch,
    SourceIn,
    SourceOut,
    SourcePatch,
    TerminalIn,
    TerminalOut,
    TerminalPatch,
    TimetableEntryIn,
    TimetableEntryOut,
    TimetableEntryPatch,
    UserIn,
    UserOut,
    UserPatch,
)
from .conflicts import lesson_conflicts, timetable_conflicts
from .records import Filter, Many, RecordSpec, invalid

# Schools -------------------------------------------------------------------------------------


def _check_school(school: School) -> list[FieldError]:
    errors = []
    if school.hub_school_id is not None and school.hub_school_id == school.id:
        errors.append(FieldError("hub_school_id", "a school cannot be its own hub"))
    if school.hub_school_id is not None and school.kind is SchoolKind.hub:
        errors.append(FieldError("hub_school_id", "a hub school is not led by another hub"))
    return errors


SCHOOL = RecordSpec(
    kind=Kind.school, create=SchoolIn, patch=SchoolPatch, out=SchoolOut,
    references={"hub_school_id": Kind.school},
    filters={"kind": Filter(School.kind), "county": Filter(School.county),
             "hub_school_id": Filter(School.hub_school_id, type=int),
             "q": Filter(School.name, "contains")},
    order_by=("county", "name"),
    check=_check_school,
)

CLASSROOM = RecordSpec(
    kind=Kind.classroom, create=ClassroomIn, patch=ClassroomPatch, out=ClassroomOut,
    references={"school_id": Kind.school},
    filters={"school_id": Filter(Classroom.school_id, type=int),
             "q": Filter(Classroom.name, "contains")},
    order_by=("school_id", "name"),
)

TERMINAL = RecordSpec(
    kind=Kind.terminal, create=TerminalIn, patch=TerminalPatch, out=TerminalOut,
    references={"classroom_id": Kind.classroom},
    filters={"classroom_id": Filter(Terminal.classroom_id, type=int),
             "q": Filter(Terminal.name, "contains")},
)

# Sources -------------------------------------------------------------------------------------


async def _prepare_source(db: AsyncSession, p: Principal, data: dict[str, Any],
                          current: Source | None) -> None:
    kind = data.get("kind") if current is None else current.kind
    if current is None and kind in (SourceKind.rtmp, SourceKind.whip):
        data["stream_key"] = new_stream_key()


def _check_source(source: Source) -> list[FieldError]:
    if source.kind is SourceKind.rtsp and not source.url:
        return [FieldError("url", "an RTSP source needs its rtsp:// URL")]
    if source.kind is not SourceKind.rtsp and source.url:
        return [FieldError("url", "only RTSP sources have a URL")]
    return []


SOURCE = RecordSpec(
    kind=Kind.source, create=SourceIn, patch=SourcePatch, out=SourceOut,
    references={"classroom_id": Kind.classroom},
    filters={"classroom_id": Filter(Source.classroom_id, type=int),
             "kind": Filter(Source.kind), "q": Filter(Source.name, "contains")},
    prepare=_prepare_source,
    check=_check_source,
    admin_only=frozenset({"stream_key"}),  # it lets an encoder publish into the classroom
)

# Users ---------------------------------------------------------------------------------------


async def _prepare_user(db: AsyncSession, p: Principal, data: dict[str, Any],
                        current: User | None) -> None:
    if "password" in data:
        password = data.pop("password")
        if password is None:
            raise invalid("password", "cannot be empty")
        data["password_hash"] = await hash_password_off_loop(password)
    if current is not None and current.id == p.user_id:
        if data.get("active") is False or data.get("role", Role.admin) is not Role.admin:
            raise KelianError(ErrorCode.conflict,
                              "You cannot deactivate yourself or drop your own admin role")


def _check_user(user: User) -> list[FieldError]:
    if user.role is Role.inspector and not user.county:
        return [FieldError("county", "an inspector oversees a county; give its name")]
    if user.role is Role.teacher and user.school_id is None:
        return [FieldError("school_id", "a teacher belongs to a school")]
    return []


async def _guard_user_delete(db: AsyncSession, p: Principal, user: User) -> None:
    if user.id == p.user_id:
        raise KelianError(ErrorCode.conflict, "You cannot delete your own account")
    # A teacher's lessons are records of teaching: the account stays while lessons or the
    # timetable name it. Saying how many, and what to do, beats "still in use".
    upcoming = await db.scalar(select(func.count()).select_from(Lesson).where(
        Lesson.teacher_id == user.id, Lesson.status.in_((LessonStatus.scheduled,
                                                          LessonStatus.live))))
    entries = await db.scalar(select(func.count()).select_from(TimetableEntry).where(
        TimetableEntry.teacher_id == user.id))
    if upcoming or entries:
        raise KelianError(ErrorCode.conflict, (
            f"{user.display_name} teaches {upcoming} upcoming lesson(s) and "
            f"{entries} timetable entr{'y' if entries == 1 else 'ies'}: give them to another "
            f"teacher or cancel them first, or disable the account (it keeps the records and "
            f"cannot sign in)"))


USER = RecordSpec(
    kind=Kind.user, create=UserIn, patch=UserPatch, out=UserOut,
    references={"school_id": Kind.school},
    filters={"role": Filter(User.role), "school_id": Filter(User.school_id, type=int),
             "county": Filter(User.county), "active": Filter(User.active, type=bool),
             "q": Filter(User.display_name, "contains")},
    order_by=("username",),
    prepare=_prepare_user,
    check=_check_user,
    guard_delete=_guard_user_delete,
)

COURSE = RecordSpec(
    kind=Kind.course, create=CourseIn, patch=CoursePatch, out=CourseOut,
    references={"school_id": Kind.school},
    filters={"school_id": Filter(Course.school_id, type=int), "subject": Filter(Course.subject),
             "grade": Filter(Course.grade), "q": Filter(Course.name, "contains")},
    order_by=("school_id", "name"),
)

# Timetable and lessons -----------------------------------------------------------------------


async def _require_teacher(db: AsyncSession, field_name: str, user_id: int | None) -> None:
    if user_id is None:
        return
    user = await db.get(User, user_id)
    if user is not None and user.role is not Role.teacher:
        raise invalid(field_name, f"user {user_id} is not a teacher")


async def _prepare_timetable(db: AsyncSession, p: Principal, data: dict[str, Any],
                             current: TimetableEntry | None) -> None:
    await _require_teacher(db, "teacher_id", data.get("teacher_id"))


def _check_timetable(entry: TimetableEntry) -> list[FieldError]:
    errors = []
    if entry.end_time <= entry.start_time:
        errors.append(FieldError("end_time", "must be after start_time"))
    if entry.term_end < entry.term_start:
        errors.append(FieldError("term_end", "must not be before term_start"))
    if entry.hub_classroom_id in {c.id for c in entry.linked_classrooms}:
        errors.append(FieldError("linked_classroom_ids", "the hub classroom is not linked to itself"))
    return errors


TIMETABLE_ENTRY = RecordSpec(
    kind=Kind.timetable_entry, create=TimetableEntryIn, patch=TimetableEntryPatch,
    out=TimetableEntryOut,
    references={"course_id": Kind.course, "teacher_id": Kind.user,
                "hub_classroom_id": Kind.classroom},
    many={"linked_classroom_ids": Many("linked_classrooms", Kind.classroom)},
    filters={"course_id": Filter(TimetableEntry.course_id, type=int),
             "teacher_id": Filter(TimetableEntry.teacher_id, type=int),
             "hub_classroom_id": Filter(TimetableEntry.hub_classroom_id, type=int),
             "weekday": Filter(TimetableEntry.weekday, type=int),
             "kind": Filter(TimetableEntry.kind)},
    order_by=("weekday", "start_time", "id"),
    prepare=_prepare_timetable,
    check=_check_timetable,
    check_db=timetable_conflicts,
)

# Every kind: the programme keeps every lesson in its library (dedicated ones too, as the
# teaching points' teachers review them); a teacher turns it off per lesson.
RECORDED_BY_DEFAULT = frozenset(LessonKind)
# Live and ended follow the Room (later issue); here a lesson is only cancelled or restored.
_STATUS_CHANGES = {(LessonStatus.scheduled, LessonStatus.cancelled),
                   (LessonStatus.cancelled, LessonStatus.scheduled)}


async def _prepare_lesson(db: AsyncSession, p: Principal, data: dict[str, Any],
                          current: Lesson | None) -> None:
    if current is None:
        if data.get("teacher_id") is None:
            if not p.has_role(Role.teacher):
                raise invalid("teacher_id", "name the lesson's teacher")
            data["teacher_id"] = p.user_id
        if data.get("record") is None:
            data["record"] = data["kind"] in RECORDED_BY_DEFAULT
    else:
        if "record" in data and data["record"] is None:
            del data["record"]
        status = data.get("status")
        if status is not None and status is not current.status:
            if (current.status, status) not in _STATUS_CHANGES:
                raise invalid("status", f"cannot change from {current.status.value} "
                                        f"to {status.value} here")
    await _require_teacher(db, "teacher_id", data.get("teacher_id"))


def _check_lesson(lesson: Lesson) -> list[FieldError]:
    errors = []
    if lesson.planned_end <= lesson.planned_start:
        errors.append(FieldError("planned_end", "must be after planned_start"))
    if lesson.host_classroom_id in {c.id for c in lesson.linked_classrooms}:
        errors.append(FieldError("linked_classroom_ids", "the host classroom is not linked to itself"))
    return errors


LESSON = RecordSpec(
    kind=Kind.lesson, create=LessonIn, patch=LessonPatch, out=LessonOut,
    references={"course_id": Kind.course, "teacher_id": Kind.user,
                "host_classroom_id": Kind.classroom},
    many={"linked_classroom_ids": Many("linked_classrooms", Kind.classroom),
          "observer_ids": Many("observers", Kind.user)},
    filters={"status": Filter(Lesson.status), "kind": Filter(Lesson.kind),
             "teacher_id": Filter(Lesson.teacher_id, type=int),
             "host_classroom_id": Filter(Lesson.host_classroom_id, type=int),
             "course_id": Filter(Lesson.course_id, type=int),
             "from": Filter(Lesson.planned_start, "gte", datetime),
             "to": Filter(Lesson.planned_start, "lt", datetime),
             "q": Filter(Lesson.title, "contains")},
    order_by=("planned_start", "id"),
    prepare=_prepare_lesson,
    check=_check_lesson,
    check_db=lesson_conflicts,
)

# Holidays ------------------------------------------------------------------------------------
# The scheduler's next generation pass applies a change (server/lifecycle/timetable.py).


def _check_holiday(holiday: Holiday) -> list[FieldError]:
    if holiday.school_id is not None and holiday.county is not None:  # the "one_scope" rule
        return [FieldError("county", "give a school or a county, not both; "
                                     "neither means every school")]
    return []


HOLIDAY = RecordSpec(
    kind=Kind.holiday, create=HolidayIn, patch=HolidayPatch, out=HolidayOut,
    references={"school_id": Kind.school},
    filters={"school_id": Filter(Holiday.school_id, type=int), "county": Filter(Holiday.county),
             "q": Filter(Holiday.name, "contains")},
    order_by=("day", "id"),
    check=_check_holiday,
)

SPECS: dict[Kind, RecordSpec] = {
    spec.kind: spec
    for spec in (SCHOOL, CLASSROOM, TERMINAL, SOURCE, USER, COURSE, TIMETABLE_ENTRY, LESSON,
                 HOLIDAY)
}
