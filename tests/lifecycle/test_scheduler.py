"""The lesson scheduler in a real app on SQLite and PostgreSQL, driven by a settable clock:
it generates the timetable's lessons, opens one early, starts its recording on time, warns the
teacher, ends it after the grace period (later while the teacher still teaches), and keeps out
of the way of a teacher who starts and ends by hand. Ticks are called by the test; the app's own
loop ticks once at start-up and then sleeps for an hour."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.keys import LIVE, SCHEDULER, SESSIONS
from server.lifecycle.scheduler import LessonScheduler, SchedulePolicy, deadline, teaching
from server.live.participant import Participant
from server.live.room import LessonInfo, LiveRoom, Publication
from server.live.rules import ParticipantRole
from server.models import (
    AuditEvent,
    Classroom,
    Course,
    Lesson,
    LessonKind,
    LessonStatus,
    TimetableEntry,
)
from tests.helpers import eventually
from tests.live.world import World
from tests.live.wsclient import join

from .conftest import Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2030, 3, 4)


@pytest.fixture
def scheduler_on() -> bool:
    return True


@pytest.fixture
def clock() -> Clock:
    result = Clock(datetime.now(UTC))
    result.at(MONDAY, 6, 0)  # the start-up tick happens then
    return result


async def _entry(db: AsyncSession, world: World) -> int:
    """Mondays 08:00-08:40 from the hub to both points (Shanghai time), recorded."""
    hub = await db.get(Classroom, world["hub"])
    assert hub is not None
    course = Course(school_id=hub.school_id, name="三年级音乐", subject="音乐", grade="三年级")
    pa, pb = await db.get(Classroom, world["pa"]), await db.get(Classroom, world["pb"])
    entry = TimetableEntry(course=course, teacher_id=world["teacher"], hub_classroom_id=hub.id,
                           kind=LessonKind.dedicated, weekday=1, start_time=time(8, 0),
                           end_time=time(8, 40), term_start=date(2030, 3, 1),
                           term_end=date(2030, 6, 30), linked_classrooms=[pa, pb])
    db.add(entry)
    await db.commit()
    return entry.id


async def _lesson(db: AsyncSession, entry_id: int, day: date) -> Lesson:
    db.expire_all()
    start = datetime.combine(day, time(8, 0), tzinfo=SHANGHAI).astimezone(UTC)
    lesson = await db.scalar(select(Lesson).where(Lesson.timetable_entry_id == entry_id,
                                                  Lesson.planned_start == start))
    assert lesson is not None
    return lesson


async def test_a_timetabled_lesson_runs_by_the_clock(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    app = live_app.app
    scheduler, live = app[SCHEDULER], app[LIVE]
    entry_id = await _entry(db, world)

    # The timetable is read again ten minutes after the start-up tick.
    clock.at(MONDAY, 6, 5)
    assert (await scheduler.tick()).created == 0
    clock.at(MONDAY, 6, 10)
    done = await scheduler.tick()
    assert (done.created, done.opened) == (2, [])  # 4 and 11 March, within 14 days
    lesson = await _lesson(db, entry_id, MONDAY)
    assert lesson.status is LessonStatus.scheduled and lesson.title == "三年级音乐（专递课堂）"
    lesson.record = True  # the teacher asked for this one to be recorded
    await db.commit()
    lesson_id = lesson.id

    # Five minutes early the Room opens: the lesson is live, not yet recorded; terminals join.
    clock.at(MONDAY, 7, 54)
    assert (await scheduler.tick()).opened == []
    clock.at(MONDAY, 7, 55)
    assert (await scheduler.tick()).opened == [lesson_id]
    lesson = await _lesson(db, entry_id, MONDAY)
    assert lesson.status is LessonStatus.live and lesson.actual_start == clock.now
    room = live.get(lesson_id)
    assert room is not None and not room.recording
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")

    # A restarted scheduler (nothing in memory) finds nothing more to do.
    fresh = LessonScheduler(app[SESSIONS], live, SchedulePolicy(), clock)
    again = await fresh.tick()
    assert (again.created, again.opened, again.ended) == (0, [], [])

    # At the planned start recording begins; everyone sees the indicator.
    clock.at(MONDAY, 8, 0)
    assert (await scheduler.tick()).recording == [lesson_id]
    assert room.recording
    await pa_ws.event("recording.changed", recording=True)

    # Five minutes before the end the teacher is warned, once; the classroom is not.
    clock.at(MONDAY, 8, 35)
    assert (await scheduler.tick()).warned == [lesson_id]
    notice = await teacher_ws.event("notice", code="lesson_ending_soon")
    assert "ends by itself" in notice["message"]
    clock.at(MONDAY, 8, 36)
    assert (await scheduler.tick()).warned == []
    assert not pa_ws.events("notice")

    # Within the grace period it goes on; after it (nobody teaching) it ends.
    clock.at(MONDAY, 8, 44)
    assert (await scheduler.tick()).ended == []
    clock.at(MONDAY, 8, 45)
    assert (await scheduler.tick()).ended == [lesson_id]
    assert await pa_ws.closed() == 4410
    lesson = await _lesson(db, entry_id, MONDAY)
    assert lesson.status is LessonStatus.ended and lesson.actual_end == clock.now
    assert live.get(lesson_id) is None and room.closed and not room.recording
    rows = (await db.execute(select(AuditEvent.tag, AuditEvent.actor).where(
        AuditEvent.target == f"lesson:{lesson_id}").order_by(AuditEvent.id))).all()
    assert [tuple(r) for r in rows] == [("lesson.started", "scheduler"),
                                        ("lesson.ended", "scheduler")]
    await teacher_ws.close()


async def test_a_teacher_starting_and_ending_by_hand_wins(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    app = live_app.app
    scheduler = app[SCHEDULER]
    entry_id = await _entry(db, world)
    clock.at(MONDAY, 6, 10)
    await scheduler.tick()
    lesson_id = (await _lesson(db, entry_id, MONDAY)).id
    auth = {"Authorization": f"Bearer {world.tokens['teacher']}"}

    # Started by hand before the doors open: the scheduler's opening finds it live already.
    clock.at(MONDAY, 7, 40)
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/start", headers=auth) as resp:
        assert resp.status == 200
    clock.at(MONDAY, 7, 55)
    assert (await scheduler.tick()).opened == []
    # Ended by hand before its end: the scheduler has nothing to end.
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers=auth) as resp:
        assert resp.status == 200
    ended_at = (await _lesson(db, entry_id, MONDAY)).actual_end
    clock.at(MONDAY, 8, 50)
    done = await scheduler.tick()
    assert (done.opened, done.warned, done.ended) == ([], [], [])
    lesson = await _lesson(db, entry_id, MONDAY)
    assert lesson.status is LessonStatus.ended and lesson.actual_end == ended_at

    # A cancelled lesson is not opened; a missed one (its time passed) is left alone.
    nxt = await _lesson(db, entry_id, MONDAY + timedelta(days=7))
    nxt.status = LessonStatus.cancelled
    await db.commit()
    clock.at(MONDAY + timedelta(days=7), 7, 58)
    assert (await scheduler.tick()).opened == []
    assert (await _lesson(db, entry_id, MONDAY + timedelta(days=7))).status \
        is LessonStatus.cancelled


@pytest.mark.slow
async def test_a_teacher_still_teaching_runs_over_until_the_limit(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    from tests.live.media_client import MediaClient

    app = live_app.app
    scheduler = app[SCHEDULER]
    await _entry(db, world)
    clock.at(MONDAY, 6, 10)
    await scheduler.tick()
    clock.at(MONDAY, 7, 56)
    lesson_id = (await scheduler.tick()).opened[0]
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher = MediaClient(teacher_ws)
    try:
        assert (await teacher.publish(["camera", "microphone"]))["type"] == "ok"
        room = app[LIVE].get(lesson_id)
        assert room is not None
        await eventually(lambda: len(room.publications) == 2, timeout=10)
        clock.at(MONDAY, 8, 46)
        assert (await scheduler.tick()).overrunning == [lesson_id]
        clock.at(MONDAY, 8, 59)
        assert (await scheduler.tick()).overrunning == [lesson_id]
        clock.at(MONDAY, 9, 0)  # planned end + 20 minutes
        assert (await scheduler.tick()).ended == [lesson_id]
        assert await teacher_ws.closed() == 4410
    finally:
        await teacher.close()


def test_teaching_means_the_teacher_is_in_and_sends_something() -> None:
    from media.interface import PublicationInfo, SourceLabel, TrackKind

    room = LiveRoom(LessonInfo(1, "t", LessonKind.dedicated))

    class Outbox:
        def send(self, message: object) -> None: ...

        def close(self, code: object, reason: object) -> None: ...

    host = Participant("user:1", "T", ParticipantRole.host, None, Outbox())
    point = Participant("terminal:2", "P", ParticipantRole.receiving_classroom, "p", Outbox())
    room.participants = {host.participant_id: host, point.participant_id: point}

    def pub(owner: Participant, source: SourceLabel, muted: bool) -> Publication:
        kind = TrackKind.audio if source is SourceLabel.microphone else TrackKind.video
        return Publication(PublicationInfo(f"pub-{owner.participant_id}-{source}",
                                           owner.participant_id, kind, source, "x"), muted)

    assert not teaching(room)
    room.publications = {"a": pub(point, SourceLabel.camera, False)}
    assert not teaching(room)  # a classroom's camera is not the teacher teaching
    room.publications["b"] = pub(host, SourceLabel.microphone, True)
    assert not teaching(room)  # muted
    room.publications["c"] = pub(host, SourceLabel.screen, False)
    assert teaching(room)


def test_the_deadline_of_a_make_up_lesson() -> None:
    start = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)
    end = start + timedelta(minutes=40)
    assert deadline(start, end, None) == end
    assert deadline(start, end, start + timedelta(minutes=10)) == end  # late: the bell rings
    assert deadline(start, end, end + timedelta(hours=3)) == end + timedelta(hours=3, minutes=40)


def test_the_settings_are_checked() -> None:
    from server.config import ConfigError, load_settings

    policy = SchedulePolicy.from_settings(load_settings(env={"KELIAN_LESSON_GRACE_MIN": "3"}))
    assert policy.grace == timedelta(minutes=3) and policy.max_overrun == timedelta(minutes=20)
    for env in ({"KELIAN_LESSON_MAX_OVERRUN_MIN": "2"}, {"KELIAN_SCHEDULER_INTERVAL_S": "0"},
                {"KELIAN_LESSON_WARN_MIN": "-1"}, {"KELIAN_TIMETABLE_DAYS": "0"}):
        with pytest.raises(ConfigError, match=next(iter(env))):
            load_settings(env=env)


async def test_a_holiday_added_through_the_api_cancels_on_the_next_tick(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    """The admin adds a holiday: the day's lesson is cancelled at the scheduler's next look, not
    only at its ten-minute regeneration."""
    scheduler = live_app.app[SCHEDULER]
    entry_id = await _entry(db, world)
    clock.at(MONDAY, 6, 10)
    assert (await scheduler.tick()).created == 2
    next_monday = MONDAY + timedelta(days=7)
    assert (await _lesson(db, entry_id, next_monday)).status is LessonStatus.scheduled

    clock.at(MONDAY, 6, 11)  # within the ten minutes: nothing would be read again by itself
    assert (await scheduler.tick()).cancelled == 0
    async with live_app.post("/api/v1/holidays", json={
            "day": next_monday.isoformat(), "name": "运动会"},
            headers={"Authorization": f"Bearer {world.tokens['admin']}"}) as resp:
        assert resp.status == 201, await resp.text()
    clock.at(MONDAY, 6, 12)
    assert (await scheduler.tick()).cancelled == 1
    assert (await _lesson(db, entry_id, next_monday)).status is LessonStatus.cancelled
    assert (await _lesson(db, entry_id, MONDAY)).status is LessonStatus.scheduled
