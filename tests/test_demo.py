"""The demo data: loaded once, all or nothing, with lessons today in the school's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient, selectinload

from server.auth.secrets import verify_password
from server.config import Settings
from server.demo import DEMO_SIGN_INS, HUB_NAME, POINT_NAMES, load_demo, print_demo_sign_ins
from server.models import (
    Classroom,
    Lesson,
    LessonKind,
    Role,
    School,
    SchoolKind,
    Source,
    Terminal,
    TimetableEntry,
    User,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def count(db: AsyncSession, model: type) -> int:
    return await db.scalar(select(func.count()).select_from(model)) or 0


async def test_loads_once(db: AsyncSession, settings: Settings) -> None:
    assert await load_demo(db, settings) is True
    users = await count(db, User)
    lessons = await count(db, Lesson)
    assert await load_demo(db, settings) is False
    assert await count(db, User) == users == len(DEMO_SIGN_INS)
    assert await count(db, Lesson) == lessons


async def test_today_has_an_earlier_and_a_later_lesson(db: AsyncSession, settings: Settings) -> None:
    await load_demo(db, settings)
    today = datetime.now(SHANGHAI).date()
    day_start = datetime.combine(today, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    noon = datetime.combine(today, time(12), tzinfo=SHANGHAI).astimezone(UTC)
    lessons = (await db.scalars(
        select(Lesson).where(Lesson.planned_start >= day_start,
                             Lesson.planned_start < day_start + timedelta(days=1))
    )).all()
    assert len(lessons) >= 2
    assert any(lesson.planned_start < noon for lesson in lessons)
    assert any(lesson.planned_start >= noon for lesson in lessons)
    assert all(lesson.planned_start.tzinfo is UTC for lesson in lessons)


async def test_lessons_cover_the_coming_week(db: AsyncSession, settings: Settings) -> None:
    await load_demo(db, settings)
    today = datetime.now(SHANGHAI).date()
    lessons = (await db.scalars(
        select(Lesson).options(selectinload(Lesson.linked_classrooms),
                               selectinload(Lesson.observers))
    )).all()
    days = {lesson.planned_start.astimezone(SHANGHAI).date() for lesson in lessons}
    assert {today + timedelta(days=d) for d in range(7)} <= days
    assert all(lesson.linked_classrooms for lesson in lessons)
    kinds = {lesson.kind for lesson in lessons}
    assert kinds == {LessonKind.dedicated, LessonKind.master_teacher, LessonKind.famous_school}
    master = [lesson for lesson in lessons if lesson.kind is LessonKind.master_teacher]
    assert [u.username for lesson in master for u in lesson.observers] == ["observer"]
    timetabled = [lesson for lesson in lessons if lesson.timetable_entry_id is not None]
    assert timetabled and all(lesson.kind is LessonKind.dedicated for lesson in timetabled)


async def test_organisation(db: AsyncSession, settings: Settings) -> None:
    await load_demo(db, settings)
    schools = (await db.scalars(
        select(School).options(selectinload(School.classrooms)).order_by(School.id)
    )).all()
    hub = next(s for s in schools if s.kind is SchoolKind.hub)
    assert hub.name == HUB_NAME
    assert sorted(c.name for c in hub.classrooms) == sorted(["录播教室", "音乐教室"])
    points = [s for s in schools if s.kind is SchoolKind.teaching_point]
    assert len(points) == 2 and all(p.hub_school_id == hub.id for p in points)
    assert all(s.county == "清城区" for s in schools)
    classrooms = await count(db, Classroom)
    assert await count(db, Terminal) == classrooms == 4
    assert all(t.token_hash is None for t in (await db.scalars(select(Terminal))).all())
    source = (await db.scalars(select(Source))).one()
    assert source.url == "rtsp://127.0.0.1:8554/teacher"
    entries = (await db.scalars(select(TimetableEntry))).all()
    assert {e.weekday for e in entries} == set(range(1, 8))
    today = datetime.now(SHANGHAI).date()
    assert all(e.term_start <= today <= e.term_end for e in entries)


async def test_sign_ins_verify(db: AsyncSession, settings: Settings) -> None:
    await load_demo(db, settings)
    users = {u.username: u for u in (await db.scalars(select(User))).all()}
    for sign_in in DEMO_SIGN_INS:
        user = users[sign_in.username]
        assert user.role is sign_in.role
        assert verify_password(user.password_hash, sign_in.password)
    assert not verify_password(users["admin"].password_hash, "kelian-teacher")
    assert users["inspector"].county == "清城区"
    assert users["teacher"].school_id is not None
    assert {s.role for s in DEMO_SIGN_INS} == set(Role)


async def test_all_or_nothing(db: AsyncSession, settings: Settings) -> None:
    # A school already holding the hub's name makes the load fail half-way: nothing may remain.
    db.add(School(name=HUB_NAME, kind=SchoolKind.school, county="别处"))
    await db.commit()
    with pytest.raises(IntegrityError):
        await load_demo(db, settings)
    assert await count(db, User) == 0
    assert await count(db, School) == 1
    assert await count(db, Lesson) == 0


def test_print_sign_ins(capsys: pytest.CaptureFixture[str]) -> None:
    print_demo_sign_ins()
    out = capsys.readouterr().out
    for sign_in in DEMO_SIGN_INS:
        assert sign_in.username in out and sign_in.password in out
    assert "WARNING" in out


async def test_demo_books_no_classroom_or_teacher_twice(db: AsyncSession, settings: Settings) -> None:
    from server.services.conflicts import lesson_conflicts, timetable_conflicts

    assert await load_demo(db, settings) is True
    lessons = list(await db.scalars(select(Lesson).options(selectinload(Lesson.linked_classrooms))))
    entries = list(await db.scalars(
        select(TimetableEntry).options(selectinload(TimetableEntry.linked_classrooms))))
    db.expunge_all()
    for record in (*lessons, *entries):
        make_transient(record)  # as if each were being written now (its id keeps it apart)
    assert lessons and entries
    for lesson in lessons:
        assert await lesson_conflicts(db, lesson) == [], lesson.title
    for entry in entries:
        assert await timetable_conflicts(db, entry) == [], entry.id
    lessons[0].id = None  # the control: as a second copy, it double-books everything
    assert {e.field for e in await lesson_conflicts(db, lessons[0])} == {
        "host_classroom_id", "linked_classroom_ids", "teacher_id"}


async def test_oversight_figures_match_the_demo_history(db: AsyncSession, settings: Settings) -> None:
    from server.lifecycle.usage import Period, usage_report
    from server.models import Attendance, JoinFailure, LessonStatus

    assert await load_demo(db, settings) is True
    zone = ZoneInfo(settings.time_zone)
    now = datetime.now(UTC)
    today = now.astimezone(zone).date()
    term_start = await db.scalar(select(func.min(TimetableEntry.term_start)))
    assert term_start is not None and (today - term_start).days >= 56  # eight weeks and more
    report = await usage_report(db, Period(term_start, today - timedelta(days=1)), None, zone, now)

    past = list(await db.scalars(select(Lesson).where(Lesson.planned_start < datetime.combine(
        today, time(0), tzinfo=zone).astimezone(UTC))))
    assert past and all(lesson.status is LessonStatus.ended for lesson in past)
    minutes = sum((lesson.actual_end - lesson.actual_start).total_seconds() / 60  # type: ignore[operator]
                  for lesson in past)
    assert (report.total.planned, report.total.held, report.total.cancelled) == (len(past),
                                                                                 len(past), 0)
    assert round(report.total.minutes) == round(minutes)
    assert report.total.recordings == report.total.views == 0  # no fake recordings
    assert sum(week.held for week in report.weeks) == len(past) and len(report.weeks) >= 8

    schools = {s.name: s for county in report.counties for s in county.schools}
    absent_somewhere = False
    for point in POINT_NAMES:
        room = await db.scalar(select(Classroom.id).join(School).where(School.name == point))
        came = await db.scalar(select(func.count(func.distinct(Attendance.lesson_id)))
                               .where(Attendance.classroom_id == room))
        usage = schools[point].usage
        assert (usage.held, usage.expected, usage.joined) == (len(past), len(past), came)
        absent_somewhere |= came < len(past)
        # Every lesson the point missed left a failed join, for the teaching point's home page
        # and the admins' daily summary.
        failed = await db.scalar(select(func.count()).select_from(JoinFailure)
                                 .where(JoinFailure.classroom_id == room))
        assert failed == len(past) - came
        assert not schools[point].uncovered
    assert absent_somewhere
    # One teaching point reconnected once: two stretches in the same lesson.
    stretches = (await db.execute(select(Attendance.lesson_id, Attendance.classroom_id, func.count())
                                  .group_by(Attendance.lesson_id, Attendance.classroom_id)
                                  .having(func.count() > 1))).all()
    assert len(stretches) == 1
