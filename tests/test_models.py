"""The data model on both backends: aware datetimes, unique names, and what deleting may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import (
    Classroom,
    Lesson,
    LessonKind,
    Role,
    School,
    SchoolKind,
    Source,
    SourceKind,
    Terminal,
    User,
)

BEIJING = timezone(timedelta(hours=8))


async def make_school(db: AsyncSession, name: str = "清远市第一中心小学",
                      rooms: tuple[str, ...] = ("录播教室",)) -> School:
    school = School(name=name, kind=SchoolKind.hub, county="清城区",
                    classrooms=[Classroom(name=r) for r in rooms])
    db.add(school)
    await db.commit()
    return school


async def make_lesson(db: AsyncSession, host: Classroom, linked: list[Classroom]) -> Lesson:
    teacher = User(username="teacher", display_name="王老师", role=Role.teacher,
                   password_hash="x")
    start = datetime(2026, 9, 1, 8, 30, tzinfo=BEIJING)
    lesson = Lesson(title="音乐", kind=LessonKind.dedicated, teacher=teacher,
                    host_classroom=host, linked_classrooms=linked, planned_start=start,
                    planned_end=start + timedelta(minutes=40))
    db.add(lesson)
    await db.commit()
    return lesson


async def count(db: AsyncSession, model: type) -> int:
    return await db.scalar(select(func.count()).select_from(model)) or 0


async def test_utc_datetime_round_trips_aware_values(db: AsyncSession) -> None:
    school = await make_school(db)
    room = school.classrooms[0]
    start = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=BEIJING)
    lesson = await make_lesson(db, room, [])
    lesson.planned_start = start
    lesson.planned_end = start + timedelta(hours=1)
    await db.commit()
    db.expunge_all()

    loaded = await db.scalar(select(Lesson))
    assert loaded is not None
    assert loaded.planned_start == start
    assert loaded.planned_start.tzinfo is UTC
    assert loaded.planned_start.hour == 0  # 08:30 in Beijing is 00:30 UTC
    assert loaded.created_at.tzinfo is UTC
    assert abs(loaded.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    # Comparisons in queries work on UTC values.
    found = await db.scalar(select(func.count()).select_from(Lesson).where(
        Lesson.planned_start == datetime(2026, 3, 2, 0, 30, 15, 123456, tzinfo=UTC)))
    assert found == 1


async def test_utc_datetime_rejects_naive_values(db: AsyncSession) -> None:
    db.add(School(name="学校", kind=SchoolKind.school, county="清城区",
                  created_at=datetime(2026, 1, 1, 8, 0)))
    with pytest.raises(StatementError) as caught:
        await db.flush()
    assert isinstance(caught.value.orig, ValueError)
    assert "naive" in str(caught.value.orig)
    await db.rollback()
    assert await count(db, School) == 0


async def test_school_names_are_unique(db: AsyncSession) -> None:
    await make_school(db, "石角镇教学点")
    db.add(School(name="石角镇教学点", kind=SchoolKind.teaching_point, county="清城区"))
    with pytest.raises(IntegrityError):
        await db.commit()
    await db.rollback()
    assert await count(db, School) == 1


async def test_classroom_names_are_unique_per_school(db: AsyncSession) -> None:
    first = await make_school(db, "甲校", rooms=("一年级教室",))
    second = await make_school(db, "乙校", rooms=("一年级教室",))  # same name, other school: fine
    assert first.id != second.id
    db.add(Classroom(school_id=first.id, name="一年级教室"))
    with pytest.raises(IntegrityError):
        await db.commit()
    await db.rollback()
    assert await count(db, Classroom) == 2


async def test_classroom_hosting_a_lesson_cannot_be_deleted(db: AsyncSession) -> None:
    school = await make_school(db, rooms=("音乐教室", "录播教室"))
    host, other = school.classrooms
    await make_lesson(db, host, [])
    await db.delete(host)
    with pytest.raises(IntegrityError):
        await db.commit()
    await db.rollback()
    assert await count(db, Classroom) == 2
    # The classroom the lesson does not touch can go.
    await db.delete(other)
    await db.commit()
    assert await count(db, Classroom) == 1


async def test_linked_classroom_of_a_lesson_cannot_be_deleted(db: AsyncSession) -> None:
    hub = await make_school(db, rooms=("音乐教室",))
    point = await make_school(db, "石角镇教学点", rooms=("一年级教室",))
    await make_lesson(db, hub.classrooms[0], [point.classrooms[0]])
    with pytest.raises(IntegrityError):
        await db.execute(delete(Classroom).where(Classroom.id == point.classrooms[0].id))
    await db.rollback()
    assert await count(db, Classroom) == 2


async def test_deleting_an_unused_school_cascades(db: AsyncSession) -> None:
    hub = await make_school(db, rooms=("录播教室", "音乐教室"))
    point = School(name="龙塘镇教学点", kind=SchoolKind.teaching_point, county="清城区",
                   hub_school_id=hub.id, classrooms=[Classroom(name="一年级教室")])
    db.add(point)
    room = hub.classrooms[0]
    db.add_all([
        Terminal(classroom_id=room.id, name="教室终端"),
        Source(classroom_id=room.id, name="教师机位", kind=SourceKind.rtsp,
               url="rtsp://127.0.0.1:8554/teacher"),
        User(username="t", display_name="王老师", role=Role.teacher, password_hash="x",
             school_id=hub.id),
    ])
    await db.commit()

    await db.delete(hub)
    await db.commit()
    db.expunge_all()
    assert await count(db, Terminal) == 0
    assert await count(db, Source) == 0
    assert [c.name for c in (await db.scalars(select(Classroom))).all()] == ["一年级教室"]
    remaining = (await db.scalars(select(School))).one()
    assert remaining.name == "龙塘镇教学点" and remaining.hub_school_id is None  # SET NULL
    user = (await db.scalars(select(User))).one()
    assert user.school_id is None  # SET NULL: people outlive their school record
