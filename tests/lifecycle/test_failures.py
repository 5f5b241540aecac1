"""Failed joins on SQLite and PostgreSQL: the scheduler, driven by a settable clock, records a
linked classroom that has not joined `join_alarm_min` after its lesson went live, once, tells the
teacher, and marks a late join; the teaching point's home page shows it in Chinese, the daily
summary page shows it by school to those who oversee it, and `kelian failures` prints it.

The world's "Music" lesson (tests/live/world.py) is taught from Hub School to Point A (pa) and
Point B (pb), county A, on Monday 2030-03-04, 08:00-08:40 Shanghai time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import API_TOKEN_PREFIX
from server.auth.secrets import new_token, token_hash
from server.keys import ATTENDANCE, LIVE, SCHEDULER, SESSIONS
from server.lifecycle.failures import alarm_at
from server.lifecycle.scheduler import LessonScheduler, SchedulePolicy
from server.models import ApiToken, Classroom, JoinFailure, Lesson, Role, User
from tests.live.world import World
from tests.live.wsclient import join
from tests.test_cli import cli_env, kelian

from .conftest import SHANGHAI, Clock

MONDAY = date(2030, 3, 4)


@pytest.fixture
def scheduler_on() -> bool:
    return True


@pytest.fixture
def clock() -> Clock:
    result = Clock(datetime.now(UTC))
    result.at(MONDAY, 6, 0)  # the start-up tick happens then
    return result


def local(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI).astimezone(UTC)


async def _live_music(live_app: TestClient, world: World, db: AsyncSession,
                      clock: Clock) -> int:
    """The teacher opens Music at 07:58 for 08:00-08:40 (the times set after the start)."""
    clock.at(MONDAY, 7, 58)
    lesson_id = world["dedicated"]
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/start", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200, await resp.text()
    await db.execute(update(Lesson).where(Lesson.id == lesson_id).values(
        planned_start=local(MONDAY, 8, 0), planned_end=local(MONDAY, 8, 40),
        actual_start=local(MONDAY, 7, 58)))
    await db.commit()
    return lesson_id


async def _failures(db: AsyncSession) -> list[tuple[int, int, datetime, datetime | None]]:
    db.expire_all()
    rows = await db.scalars(select(JoinFailure).order_by(JoinFailure.id))
    return [(f.lesson_id, f.classroom_id, f.detected_at, f.joined_at) for f in rows]


async def test_a_classroom_that_does_not_join_is_flagged_once_and_its_teacher_told(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    app = live_app.app
    scheduler = app[SCHEDULER]
    lesson_id = await _live_music(live_app, world, db, clock)
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    clock.at(MONDAY, 7, 59)
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")

    # Three minutes after the planned start (the lesson opened earlier): not a second sooner.
    clock.at(MONDAY, 8, 2, 59)
    assert (await scheduler.tick()).not_joined == []
    clock.at(MONDAY, 8, 3)
    # Point A is in the Room (its attendance may not be written yet): only Point B is missing.
    assert (await scheduler.tick()).not_joined == [(lesson_id, world["pb"])]
    assert await _failures(db) == [(lesson_id, world["pb"], local(MONDAY, 8, 3), None)]
    notice = await teacher_ws.event("notice", code="classroom_not_joined")
    assert notice["classroom"] == "Point B · pb"
    assert "Point B · pb has not joined" in notice["message"]

    # Once: neither the next tick nor a restarted scheduler (nothing in memory) repeats it.
    clock.at(MONDAY, 8, 4)
    assert (await scheduler.tick()).not_joined == []
    fresh = LessonScheduler(app[SESSIONS], app[LIVE], SchedulePolicy(), clock)
    assert (await fresh.tick()).not_joined == []
    assert len(await _failures(db)) == 1
    assert len(teacher_ws.events("notice")) == 1
    assert not pa_ws.events("notice")  # classrooms are not told

    # Point B comes after all, seven minutes late: the record stays and says so.
    clock.at(MONDAY, 8, 7)
    pb_ws, _ = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
    await app[ATTENDANCE].write()
    clock.at(MONDAY, 8, 7, 5)
    assert (await scheduler.tick()).not_joined == []
    assert await _failures(db) == [(lesson_id, world["pb"], local(MONDAY, 8, 3),
                                    local(MONDAY, 8, 7))]
    for ws in (teacher_ws, pa_ws, pb_ws):
        await ws.close()


def test_the_alarm_counts_from_the_later_of_planned_and_actual_start() -> None:
    planned = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)
    three = timedelta(minutes=3)
    assert alarm_at(planned, None, three) == planned + three
    assert alarm_at(planned, planned - timedelta(minutes=5), three) == planned + three  # early
    late = planned + timedelta(minutes=10)  # started late by hand
    assert alarm_at(planned, late, three) == late + three


def test_the_setting_is_checked() -> None:
    from server.config import ConfigError, load_settings

    policy = SchedulePolicy.from_settings(load_settings(env={"KELIAN_JOIN_ALARM_MIN": "5"}))
    assert policy.join_alarm == timedelta(minutes=5)
    assert SchedulePolicy.from_settings(load_settings(env={})).join_alarm == timedelta(minutes=3)
    with pytest.raises(ConfigError, match="KELIAN_JOIN_ALARM_MIN"):
        load_settings(env={"KELIAN_JOIN_ALARM_MIN": "0"})


# Reading them back --------------------------------------------------------------------------------


async def _person(db: AsyncSession, world: World, name: str, role: Role, classroom: str
                  ) -> str:
    """A user of the school of one of the world's classrooms, with an API token."""
    room = await db.get(Classroom, world[classroom])
    assert room is not None
    user = User(username=name, display_name=name, role=role, password_hash="!",
                school_id=room.school_id)
    secret = new_token(API_TOKEN_PREFIX)
    db.add_all([user, ApiToken(user=user, name="tests", token_hash=token_hash(secret))])
    await db.commit()
    return secret


async def _recorded(db: AsyncSession, world: World) -> None:
    """Music on Monday: Point B never came; Point A came ten minutes late."""
    await db.execute(update(Lesson).where(Lesson.id == world["dedicated"]).values(
        planned_start=local(MONDAY, 8, 0), planned_end=local(MONDAY, 8, 40),
        actual_start=local(MONDAY, 7, 58)))
    db.add_all([
        JoinFailure(lesson_id=world["dedicated"], classroom_id=world["pb"],
                    detected_at=local(MONDAY, 8, 3)),
        JoinFailure(lesson_id=world["dedicated"], classroom_id=world["pa"],
                    detected_at=local(MONDAY, 8, 3), joined_at=local(MONDAY, 8, 10)),
    ])
    await db.commit()


async def _get(client: TestClient, path: str, token: str) -> tuple[int, str]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.text()


def _panel(html: str) -> str | None:
    """The dashboard's failed-joins section, or None when the page has none."""
    if 'id="failures-title"' not in html:
        return None
    start = html.index('id="failures-title"')
    return html[start:html.index("</section>", start)]


async def test_the_teaching_point_sees_its_failed_joins_on_its_home_page(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock) -> None:
    await _recorded(db, world)
    point_b = await _person(db, world, "pb_teacher", Role.teacher, "pb")
    far = await _person(db, world, "far_teacher", Role.teacher, "far")
    clock.at(MONDAY + timedelta(days=1), 12, 0)

    status, html = await _get(live_app, "/", point_b)
    panel = _panel(html)
    assert status == 200 and panel is not None, html
    for text in ("未能加入的课堂", "主讲教师", "2030-03-04 08:00", "Music", "Point B · pb",
                 "Teacher", "未进入课堂"):
        assert text in panel, text
    assert "Point A · pa" not in panel  # another school's classroom

    # The hub teacher sees both (the lessons they teach), the late one as late.
    status, html = await _get(live_app, "/", world.tokens["teacher"])
    panel = _panel(html)
    assert panel is not None and "Point B · pb" in panel and "Point A · pa" in panel
    assert "迟到 10 分钟后加入" in panel

    # An unrelated school: the panel, empty; an observer oversees no classroom: no panel.
    status, html = await _get(live_app, "/", far)
    panel = _panel(html)
    assert panel is not None and "Point B" not in panel and "近七天没有未能加入课堂的教室" in panel
    status, html = await _get(live_app, "/", world.tokens["observer"])
    assert status == 200 and _panel(html) is None

    # In English when chosen; a week later it has gone from the home page.
    async with live_app.get("/", headers={"Authorization": f"Bearer {point_b}",
                                          "Cookie": "kelian_lang=en"}) as resp:
        english = _panel(await resp.text())
    assert english is not None and "Classrooms that failed to join" in english
    assert "Did not join" in english and "Hub teacher" in english
    clock.at(MONDAY + timedelta(days=8), 12, 0)
    panel = _panel((await _get(live_app, "/", point_b))[1])
    assert panel is not None and "Point B · pb" not in panel


async def test_the_daily_summary_by_school_and_its_scope(
        live_app: TestClient, world: World, db: AsyncSession, clock: Clock,
        tmp_path: Path, db_url: str) -> None:
    await _recorded(db, world)
    clock.at(MONDAY + timedelta(days=1), 9, 0)  # "yesterday" is the Monday

    status, html = await _get(live_app, "/oversight/failures", world.tokens["admin"])
    assert status == 200, html
    for text in ("2030-03-04 未能加入的课堂", "清城区 · Point A", "清城区 · Point B",
                 "未能加入：2 次，其中迟到后加入：1 次", "迟到 10 分钟后加入", "未进入课堂",
                 'href="/oversight/failures?day=2030-03-03"',
                 'href="/oversight/failures?day=2030-03-05"'):
        assert text in html, text
    assert html.index("Point A · pa") < html.index("Point B · pb")  # grouped by school

    # The inspector of the county sees the same; another county's sees none.
    status, html = await _get(live_app, "/oversight/failures?day=2030-03-04",
                              world.tokens["inspector"])
    assert status == 200 and "Point B · pb" in html
    status, html = await _get(live_app, "/oversight/failures?day=2030-03-04",
                              world.tokens["inspector_b"])
    assert status == 200 and "Point B" not in html and "当天没有未能加入课堂的教室" in html
    status, html = await _get(live_app, "/oversight/failures?day=2030-03-05",
                              world.tokens["admin"])
    assert status == 200 and "当天没有未能加入课堂的教室" in html
    assert (await _get(live_app, "/oversight/failures", world.tokens["teacher"]))[0] == 403
    assert (await _get(live_app, "/oversight/failures?day=4.3.", world.tokens["admin"]))[0] \
        == 400
    status, html = await _get(live_app, "/oversight", world.tokens["admin"])
    assert 'href="/oversight/failures"' in html and "未能加入课堂每日汇总" in html

    # The same summary as plain text, for a cron mail; exit 0 also when there were none.
    env = cli_env(tmp_path, db_url)
    done = await asyncio.to_thread(kelian, env, "failures", "--day", "2030-03-04")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["2030-03-04 未能加入的课堂", "未能加入：2 次，其中迟到后加入：1 次"]
    assert "清城区 · Point A (1)" in lines and "清城区 · Point B (1)" in lines
    assert any("2030-03-04 08:00" in line and "Point B · pb" in line and "未进入课堂" in line
               for line in lines)
    done = await asyncio.to_thread(kelian, env, "failures", "--day", "2030-03-05")
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["2030-03-05 未能加入的课堂", "当天没有未能加入课堂的教室。"]
