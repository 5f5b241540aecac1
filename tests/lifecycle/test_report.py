"""The lesson report page on SQLite and PostgreSQL: who may read it, the attendance table per
classroom (absent ones too), the grade strips and charts, both languages, and the links to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import Attendance, Lesson, LessonStatus, LinkSample, User
from tests.live.world import World

T0 = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _taught(db: AsyncSession, world: World) -> int:
    """The world's dedicated lesson as taught 08:00-08:40 (08:00-08:40 planned), with the hub,
    point A (dropped once, 3 minutes) and the teacher present; point B never came."""
    lesson_id = world["dedicated"]
    await db.execute(update(Lesson).where(Lesson.id == lesson_id).values(
        status=LessonStatus.ended, planned_start=at(0), planned_end=at(40),
        actual_start=at(-2), actual_end=at(41)))

    def stretch(pid: str, role: str, start: float, end: float | None, *, classroom: str = "",
                terminal: str = "", user: str = "", reason: str = "left") -> Attendance:
        return Attendance(
            lesson_id=lesson_id, participant_id=pid, role=role,
            identity=f"terminal:{world[terminal]}" if terminal else f"user:{world[user]}",
            classroom_id=world[classroom] if classroom else None,
            terminal_id=world[terminal] if terminal else None,
            user_id=world[user] if user else None, name=pid, joined_at=at(start),
            left_at=at(end) if end is not None else None, leave_reason=reason)

    db.add_all([
        stretch("p-hub", "host_classroom", -2, 41, classroom="hub", terminal="hub_tv"),
        stretch("p-pa1", "receiving_classroom", -1, 10, classroom="pa", terminal="pa_tv",
                reason="disconnected"),
        stretch("p-pa2", "receiving_classroom", 13, None, classroom="pa", terminal="pa_tv"),
        stretch("p-teacher", "host", 0, 41, user="teacher"),
    ])
    # Point A: good, then fair and poor minutes while its link suffered.
    for minute, loss, rtt in ((0, 0.5, 40.0), (1, 0.2, 45.0), (2, 4.0, 120.0), (3, 12.0, 600.0),
                              (14, 0.1, 50.0)):
        db.add(LinkSample(lesson_id=lesson_id, participant_id="p-pa1" if minute < 10 else "p-pa2",
                          minute=at(minute), samples=12, rtt_ms=rtt, loss_pct=loss,
                          jitter_ms=8.0, down_kbps=1500.0, up_kbps=700.0))
    await db.commit()
    return lesson_id


async def _get(client: TestClient, path: str, token: str) -> tuple[int, str]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.text()


async def test_the_report_shows_attendance_and_link_quality(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    lesson_id = await _taught(db, world)
    path = f"/lessons/{lesson_id}/report"

    status, html = await _get(live_app, path, world.tokens["teacher"])
    assert status == 200, html
    assert "课堂报告" in html and "Music" in html
    for name in ("Hub School · hub", "Point A · pa", "Point B · pb", "Teacher"):
        assert name in html
    assert "未进入课堂" in html  # point B
    assert "应到 2 个，实到 1 个" in html  # the linked points; the hub came too (its terminal)
    assert '<svg class="chart"' in html and "丢包率" in html and "往返时延" in html
    assert html.count('<svg class="strip"') == 1  # only point A has figures
    assert "较差" in html or "一般" in html  # its grade
    # Point A: 07:59-08:10 and 08:13-08:41 (the lesson's end caps the open stretch): 39 minutes,
    # reconnected once.
    row = html[html.index("Point A · pa"):]
    row = row[:row.index("</tr>")]
    assert ">07:59<" in row and ">08:41<" in row and ">39<" in row and ">1<" in row

    # Others who may read it; English on request.
    await db.execute(update(User).where(User.id == world["inspector"]).values(locale="en"))
    await db.commit()
    status, html = await _get(live_app, path, world.tokens["inspector"])
    assert status == 200
    assert "Lesson report" in html and "Did not join" in html and "Packet loss" in html
    assert (await _get(live_app, path, world.tokens["admin"]))[0] == 200
    # Not for the observer, another teacher, a classroom terminal; an inspector of another
    # county and a stranger do not even see the lesson.
    for who, expected in (("observer", 403), ("teacher2", 403), ("pa_tv", 403),
                          ("inspector_b", 404), ("outsider", 404)):
        assert (await _get(live_app, path, world.tokens[who]))[0] == expected, who
    assert (await _get(live_app, "/lessons/999999/report", world.tokens["admin"]))[0] == 404


async def test_an_empty_report_and_the_links_to_it(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    lesson_id = world["dedicated"]
    status, html = await _get(live_app, f"/lessons/{lesson_id}/report", world.tokens["teacher"])
    # The two linked points did not come; the host classroom, with no device of its own
    # there, is no row at all.
    assert status == 200 and "暂无网络质量数据" in html and html.count("未进入课堂") == 2
    assert "应到 2 个，实到 0 个" in html and "Hub School · hub" not in html.split("<h2")[1]

    report_link = f'href="/lessons/{lesson_id}/report"'
    _, dashboard = await _get(live_app, "/", world.tokens["teacher"])
    assert report_link not in dashboard  # scheduled: nothing to report yet
    await db.execute(update(Lesson).where(Lesson.id == lesson_id)
                     .values(status=LessonStatus.ended, actual_start=at(0), actual_end=at(40)))
    await db.commit()
    _, dashboard = await _get(live_app, "/", world.tokens["teacher"])
    assert report_link in dashboard
    _, form = await _get(live_app, f"/admin/lessons/{lesson_id}", world.tokens["teacher"])
    assert report_link in form
    _, form = await _get(live_app, f"/admin/lessons/{lesson_id}", world.tokens["teacher2"])
    assert report_link not in form
