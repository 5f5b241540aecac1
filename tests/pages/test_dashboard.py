"""The dashboard: today's and the coming week's lessons, in the host school's time, by role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.keys import SESSIONS
from server.models import Classroom, Lesson, LessonKind

from .conftest import SQLITE_ONLY, field_errors, post_form, sign_in, text_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
MASTER = "名师课堂：三年级音乐《小雨沙沙》示范课"
FAMOUS = "名校网络课堂：三年级英语 Unit 3 公开课"


def section(html: str, heading_id: str) -> str:
    """The text of one dashboard section, from its heading to the next section."""
    start = html.index(f'id="{heading_id}"')
    end = html.find("<section", start)
    return text_of(html[start:end if end > 0 else None])


async def lessons(client: TestClient) -> int:
    async with client.app[SESSIONS]() as db:
        return await db.scalar(select(func.count()).select_from(Lesson)) or 0


async def test_signed_out_visitors_go_to_sign_in(app_client: TestClient) -> None:
    response = await app_client.get("/", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/login"


async def test_teacher_sees_today_and_the_week(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    html = await (await app_client.get("/")).text()
    today = section(html, "today-title")
    assert "今日课堂" in today
    assert "三年级音乐（专递课堂）" in today and "三年级英语（专递课堂）" in today
    assert MASTER in today and FAMOUS not in today
    # Times are the school's wall clock (Asia/Shanghai), whatever the server's zone.
    assert "08:30" in today and "15:00" in today and "14:00" in today
    assert "名师课堂" in today and "专递课堂" in today and "未开始" in today
    assert "清远市第一中心小学 · 音乐教室" in today
    assert "石角镇教学点 · 一年级教室" in today and "王老师" in today
    week = section(html, "upcoming-title")
    assert FAMOUS in week and "名校网络课堂" in week
    tomorrow = datetime.now(SHANGHAI) + timedelta(days=1)
    assert f"{tomorrow.month}月{tomorrow.day}日" in week
    assert 'action="/lessons"' in html  # teachers may add an ad-hoc lesson


async def test_observer_sees_only_invited_lessons(app_client: TestClient) -> None:
    await sign_in(app_client, "observer")
    html = await (await app_client.get("/")).text()
    assert MASTER in section(html, "today-title")
    assert "专递课堂）" not in text_of(html)
    assert "今天没有课堂" not in text_of(html)
    assert "未来一周暂无课堂安排" in text_of(html)
    assert 'action="/lessons"' not in html


@SQLITE_ONLY
async def test_nothing_today_reads_kindly(app_client: TestClient) -> None:
    async with app_client.app[SESSIONS]() as db:
        for lesson in await db.scalars(select(Lesson)):
            await db.delete(lesson)
        await db.commit()
    await sign_in(app_client, "admin")
    text = text_of(await (await app_client.get("/")).text())
    assert "今天没有课堂" in text and "未来一周暂无课堂安排" in text


async def test_teacher_adds_an_ad_hoc_lesson(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    async with app_client.app[SESSIONS]() as db:
        rooms = {c.name: c.id for c in await db.scalars(select(Classroom))}
        point_rooms = [c.id for c in await db.scalars(
            select(Classroom).where(Classroom.name == "一年级教室"))]
    day = (datetime.now(SHANGHAI) + timedelta(days=2)).date()
    before = await lessons(app_client)
    # 16:00, after the demo timetable's last lesson (its 10:10 art lesson, Mondays, Wednesdays
    # and Fridays, took these classrooms when this ran two days before one of them).
    response = await post_form(app_client, "/lessons", [
        ("title", "临时加课：合唱排练"), ("kind", "master_teacher"),
        ("host_classroom_id", str(rooms["音乐教室"])),
        *[("linked_classroom_ids", str(i)) for i in point_rooms],
        ("planned_start", f"{day}T16:00"), ("planned_end", f"{day}T16:40"),
    ])
    assert response.status == 303, field_errors(await response.text())
    assert response.headers["Location"] == "/?notice=lesson_created"
    async with app_client.app[SESSIONS]() as db:
        lesson = (await db.scalars(select(Lesson).where(Lesson.title == "临时加课：合唱排练"))).one()
        assert lesson.kind is LessonKind.master_teacher
        assert lesson.planned_start == datetime(day.year, day.month, day.day, 8, 0, tzinfo=UTC)
    assert await lessons(app_client) == before + 1
    page = await app_client.get("/?notice=lesson_created")
    text = text_of(await page.text())
    assert "课堂已创建" in text and "临时加课：合唱排练" in text


async def test_bad_ad_hoc_lesson_is_shown_again_with_errors(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    async with app_client.app[SESSIONS]() as db:
        room = (await db.scalars(select(Classroom).where(Classroom.name == "音乐教室"))).one()
    day = datetime.now(SHANGHAI).date()
    before = await lessons(app_client)
    response = await post_form(app_client, "/lessons", [
        ("title", "倒着的课"), ("kind", "dedicated"), ("host_classroom_id", str(room.id)),
        ("linked_classroom_ids", str(room.id)),
        ("planned_start", f"{day}T11:00"), ("planned_end", f"{day}T10:00"),
    ])
    assert response.status == 422
    html = await response.text()
    errors = field_errors(html)
    assert errors["planned_end"] == "必须晚于开始时间"
    assert errors["linked_classroom_ids"] == "主讲教室不能同时作为接收教室"
    assert 'value="倒着的课"' in html and "<details open>" in html
    assert await lessons(app_client) == before

    response = await post_form(app_client, "/lessons", [
        ("title", ""), ("kind", "dedicated"), ("host_classroom_id", str(room.id)),
        ("planned_start", "tomorrow"), ("planned_end", f"{day}T10:00"),
    ])
    assert response.status == 422
    errors = field_errors(await response.text())
    assert errors["title"] == "此项为必填项"
    assert errors["planned_start"] == "请输入有效的日期和时间"
    assert await lessons(app_client) == before


@SQLITE_ONLY
async def test_observers_cannot_add_lessons(app_client: TestClient) -> None:
    await sign_in(app_client, "observer")
    before = await lessons(app_client)
    response = await post_form(app_client, "/lessons", {"title": "x"})
    assert response.status == 403
    assert await lessons(app_client) == before
