"""The admin pages: who may see and change what, and forms that validate and roll back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.keys import SESSIONS
from server.models import Classroom, Lesson, School, SchoolKind, Source, Terminal, User
from server.pages.kinds import ADMIN_KINDS

from .conftest import SQLITE_ONLY, field_errors, post_form, sign_in, text_of

SLUGS = list(ADMIN_KINDS)


async def count(client: TestClient, model: type, *where: Any) -> int:
    async with client.app[SESSIONS]() as db:
        return await db.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def one(client: TestClient, model: type, *where: Any) -> Any:
    async with client.app[SESSIONS]() as db:
        return (await db.scalars(select(model).where(*where))).one()


async def first_id(client: TestClient, model: type) -> int:
    async with client.app[SESSIONS]() as db:
        return await db.scalar(select(func.min(model.id))) or 0


async def test_every_admin_page_renders_for_an_admin(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    for slug in ADMIN_KINDS:
        listing = await app_client.get(f"/admin/{slug}")
        assert listing.status == 200, slug
        html = await listing.text()
        assert f'href="/admin/{slug}/new"' in html
        rows = re.findall(rf'href="/admin/{slug}/(\d+)"', html)
        assert rows, f"the demo has {slug}"
        new = await app_client.get(f"/admin/{slug}/new")
        assert new.status == 200, slug
        record = await app_client.get(f"/admin/{slug}/{rows[0]}")
        assert record.status == 200, slug
        assert "保存修改" in text_of(await record.text())
        confirm = await app_client.get(f"/admin/{slug}/{rows[0]}/delete")
        assert confirm.status == 200 and "删除后无法恢复" in text_of(await confirm.text())


@SQLITE_ONLY
async def test_anonymous_visitors_are_sent_to_sign_in(app_client: TestClient) -> None:
    for slug in SLUGS:
        for path in (f"/admin/{slug}", f"/admin/{slug}/new", f"/admin/{slug}/1"):
            response = await app_client.get(path, allow_redirects=False)
            assert response.status == 302, path
            assert response.headers["Location"] == f"/login?next={path}"
        response = await post_form(app_client, f"/admin/{slug}/new", {"name": "x"})
        assert response.status == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("username", ["teacher", "observer"])
async def test_teachers_and_observers_cannot_write(app_client: TestClient, username: str) -> None:
    school_id = await first_id(app_client, School)
    await sign_in(app_client, username)
    for slug in SLUGS:
        listing = await app_client.get(f"/admin/{slug}")
        assert listing.status == 200, slug
        if slug == "lessons" and username == "teacher":
            continue  # teachers manage their own lessons (see test_teacher_manages_own_lessons)
        assert f'href="/admin/{slug}/new"' not in await listing.text()
        new = await app_client.get(f"/admin/{slug}/new")
        assert new.status == 403, slug
        assert "您无权创建此" in text_of(await new.text())
        created = await post_form(app_client, f"/admin/{slug}/new", {"name": "Sneaky"})
        assert created.status == 403, slug
    for path in (f"/admin/schools/{school_id}", f"/admin/schools/{school_id}/delete"):
        response = await post_form(app_client, path, {"name": "Renamed"})
        assert response.status in (403, 404), path
    school = await one(app_client, School, School.id == school_id)
    assert school.name == "清远市第一中心小学"
    assert await count(app_client, School, School.name == "Sneaky") == 0


async def test_teacher_manages_own_lessons_only(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    lesson_id = await first_id(app_client, Lesson)
    page = await app_client.get(f"/admin/lessons/{lesson_id}")
    assert page.status == 200
    html = await page.text()
    assert 'name="teacher_id"' not in html  # only admins hand lessons to someone else
    response = await post_form(app_client, f"/admin/lessons/{lesson_id}", _lesson_form(
        html, status="cancelled"))
    assert response.status == 303, field_errors(await response.text())
    lesson = await one(app_client, Lesson, Lesson.id == lesson_id)
    assert lesson.status.value == "cancelled"


def _lesson_form(html: str, **changes: str) -> list[tuple[str, str]]:
    """The values an edit form shows, with `changes` applied: what a browser would submit."""
    fields: list[tuple[str, str]] = []
    inputs = r'<input type="(?:text|datetime-local)" id="f-\w+" name="(\w+)"[^>]*value="([^"]*)"'
    fields.extend(re.findall(inputs, html))
    for name, body in re.findall(r'<select id="f-\w+" name="(\w+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        fields.append((name, chosen.group(1) if chosen else ""))
    for name, value in re.findall(r'<input type="checkbox" name="(\w+)" value="(\d+)" checked>', html):
        fields.append((name, value))
    fields = [(n, changes.get(n, v)) for n, v in fields]
    return fields


async def test_inspector_sees_only_its_county_and_changes_nothing(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    response = await post_form(app_client, "/admin/schools/new", {
        "name": "别县中心小学", "kind": "hub", "county": "英德市", "time_zone": "Asia/Shanghai",
    })
    assert response.status == 303
    other = await one(app_client, School, School.name == "别县中心小学")
    home = await one(app_client, School, School.name == "清远市第一中心小学")

    await sign_in(app_client, "inspector")
    listing = text_of(await (await app_client.get("/admin/schools")).text())
    assert "清远市第一中心小学" in listing and "别县中心小学" not in listing
    assert (await app_client.get(f"/admin/schools/{other.id}")).status == 404
    own = await app_client.get(f"/admin/schools/{home.id}")
    assert own.status == 200
    html = await own.text()
    assert "您可以查看此学校，但不能修改" in text_of(html)
    assert '<form method="post" action="/admin/schools/' not in html
    refused = await post_form(app_client, f"/admin/schools/{home.id}", {"name": "改名"})
    assert refused.status == 403
    for slug in SLUGS:
        assert (await app_client.get(f"/admin/{slug}")).status == 200


async def test_school_create_edit_delete(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    hub = await one(app_client, School, School.name == "清远市第一中心小学")
    response = await post_form(app_client, "/admin/schools/new", {
        "name": "  新村教学点 ", "kind": "teaching_point", "county": "清城区",
        "hub_school_id": str(hub.id), "time_zone": "Asia/Shanghai",
    })
    assert response.status == 303
    school = await one(app_client, School, School.name == "新村教学点")
    assert school.hub_school_id == hub.id and school.kind is SchoolKind.teaching_point
    assert response.headers["Location"] == f"/admin/schools/{school.id}?notice=created"
    page = await app_client.get(response.headers["Location"])
    assert "已保存：记录已创建" in text_of(await page.text())

    response = await post_form(app_client, f"/admin/schools/{school.id}", {
        "name": "新村教学点（二）", "kind": "teaching_point", "county": "清城区",
        "hub_school_id": "", "time_zone": "Asia/Shanghai",
    })
    assert response.status == 303
    school = await one(app_client, School, School.id == school.id)
    assert school.name == "新村教学点（二）" and school.hub_school_id is None

    response = await post_form(app_client, f"/admin/schools/{school.id}/delete", {})
    assert response.status == 303 and response.headers["Location"] == "/admin/schools?notice=deleted"
    assert await count(app_client, School, School.id == school.id) == 0


async def test_bad_input_re_renders_with_errors_and_changes_nothing(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    schools = await count(app_client, School)
    response = await post_form(app_client, "/admin/schools/new", {
        "name": "", "kind": "castle", "county": "x" * 101, "time_zone": "Mars/Olympus",
    })
    assert response.status == 422
    html = await response.text()
    errors = field_errors(html)
    assert errors["name"] == "此项为必填项"
    assert errors["kind"] == "请选择一个选项"
    assert errors["county"] == "最多 100 个字符"
    assert "IANA" in errors["time_zone"]
    assert 'value="Mars/Olympus"' in html and 'value="' + "x" * 101 + '"' in html
    assert "表单未保存" in text_of(html)
    assert await count(app_client, School) == schools

    # A rule the service checks after validation: a hub is not led by another hub.
    hub = await one(app_client, School, School.name == "清远市第一中心小学")
    response = await post_form(app_client, f"/admin/schools/{hub.id}", {
        "name": "清远市第一中心小学", "kind": "hub", "county": "清城区",
        "hub_school_id": str(hub.id), "time_zone": "Asia/Shanghai",
    })
    assert response.status == 422
    assert "中心校不能隶属于其他中心校" in field_errors(await response.text())["hub_school_id"]
    hub = await one(app_client, School, School.id == hub.id)
    assert hub.hub_school_id is None


async def test_duplicate_names_and_records_in_use(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    hub = await one(app_client, School, School.name == "清远市第一中心小学")
    rooms = await count(app_client, Classroom)
    response = await post_form(app_client, "/admin/classrooms/new",
                               {"school_id": str(hub.id), "name": "音乐教室"})
    assert response.status == 409
    assert "已存在同名的教室" in text_of(await response.text())
    assert await count(app_client, Classroom) == rooms

    music = await one(app_client, Classroom, Classroom.name == "音乐教室")
    response = await post_form(app_client, f"/admin/classrooms/{music.id}/delete", {})
    assert response.status == 409
    assert "该教室仍被其他记录使用" in text_of(await response.text())
    assert await count(app_client, Classroom) == rooms


async def test_users_password_on_create_optional_on_edit(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    hub = await one(app_client, School, School.name == "清远市第一中心小学")
    short = await post_form(app_client, "/admin/users/new", {
        "username": "chen", "display_name": "陈老师", "role": "teacher", "password": "short",
        "school_id": str(hub.id), "active": "1",
    })
    assert short.status == 422
    assert field_errors(await short.text())["password"] == "至少需要 8 个字符"
    created = await post_form(app_client, "/admin/users/new", {
        "username": "chen", "display_name": "陈老师", "role": "teacher",
        "password": "chen-password", "school_id": str(hub.id), "active": "1",
    })
    assert created.status == 303
    user = await one(app_client, User, User.username == "chen")
    first_hash = user.password_hash
    edited = await post_form(app_client, f"/admin/users/{user.id}", {
        "display_name": "陈老师（音乐）", "role": "teacher", "password": "",
        "school_id": str(hub.id), "county": "", "locale": "en", "active": "1",
    })
    assert edited.status == 303
    user = await one(app_client, User, User.id == user.id)
    assert user.display_name == "陈老师（音乐）" and user.locale == "en"
    assert user.password_hash == first_hash
    await sign_in(app_client, "chen", "chen-password")

    await sign_in(app_client, "admin")
    teacherless = await post_form(app_client, f"/admin/users/{user.id}", {
        "display_name": "陈老师", "role": "teacher", "school_id": "", "active": "1",
    })
    assert teacherless.status == 422
    assert field_errors(await teacherless.text())["school_id"] == "教师须隶属于一所学校"


async def test_sources_show_their_url_or_stream_key(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    room = await one(app_client, Classroom, Classroom.name == "录播教室")
    rtsp_without_url = await post_form(app_client, "/admin/sources/new", {
        "classroom_id": str(room.id), "name": "学生机位", "kind": "rtsp", "role": "students",
        "url": "", "enabled": "1",
    })
    assert rtsp_without_url.status == 422
    assert "RTSP 信号源需要填写 rtsp:// 地址" in text_of(await rtsp_without_url.text())
    response = await post_form(app_client, "/admin/sources/new", {
        "classroom_id": str(room.id), "name": "OBS 推流", "kind": "whip", "role": "courseware",
        "url": "", "enabled": "1",
    })
    assert response.status == 303
    source = await one(app_client, Source, Source.name == "OBS 推流")
    assert source.stream_key
    page = text_of(await (await app_client.get(response.headers["Location"])).text())
    assert source.stream_key in page
    listing = text_of(await (await app_client.get("/admin/sources")).text())
    assert source.stream_key in listing and "rtsp://127.0.0.1:8554/teacher" in listing
    # The key lets an encoder publish into the classroom: a teacher sees the source, not the key.
    await sign_in(app_client, "teacher")
    as_teacher = await app_client.get("/admin/sources")
    assert as_teacher.status == 200
    listing = text_of(await as_teacher.text())
    assert "OBS 推流" in listing and source.stream_key not in listing
    detail = text_of(await (await app_client.get(f"/admin/sources/{source.id}")).text())
    assert "OBS 推流" in detail and source.stream_key not in detail


async def test_terminal_token_is_shown_once_and_can_be_revoked(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    terminal_id = await first_id(app_client, Terminal)
    response = await post_form(app_client, f"/admin/terminals/{terminal_id}/token", {})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    token = re.search(r'value="(kt_[A-Za-z0-9_-]+)"', html)
    assert token is not None
    assert "只显示这一次" in text_of(html)
    token_value = token.group(1)
    terminal = await one(app_client, Terminal, Terminal.id == terminal_id)
    assert terminal.token_hash is not None and token_value not in terminal.token_hash

    for path in (f"/admin/terminals/{terminal_id}", "/admin/terminals"):
        assert token_value not in await (await app_client.get(path)).text()
    bearer = {"Authorization": f"Bearer {token_value}"}
    before = await app_client.get("/api/v1/me", headers=bearer)
    assert before.status != 401

    response = await post_form(app_client, f"/admin/terminals/{terminal_id}/revoke", {})
    assert response.status == 303
    terminal = await one(app_client, Terminal, Terminal.id == terminal_id)
    assert terminal.token_hash is None and terminal.token_revoked_at is not None
    after = await app_client.get("/api/v1/me", headers=bearer)
    assert after.status == 401
    page = await app_client.get(response.headers["Location"])
    assert "终端令牌已吊销" in text_of(await page.text())


@SQLITE_ONLY
async def test_terminal_tokens_are_for_admins(app_client: TestClient) -> None:
    terminal_id = await first_id(app_client, Terminal)
    await sign_in(app_client, "inspector")
    response = await post_form(app_client, f"/admin/terminals/{terminal_id}/token", {})
    assert response.status == 403
    assert "只有管理员可以签发终端令牌" in text_of(await response.text())
    terminal = await one(app_client, Terminal, Terminal.id == terminal_id)
    assert terminal.token_hash is None


@SQLITE_ONLY
async def test_search_and_unknown_kinds(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    found = text_of(await (await app_client.get("/admin/schools", params={"q": "龙塘"})).text())
    assert "龙塘镇教学点" in found and "石角镇教学点" not in found
    nothing = text_of(await (await app_client.get("/admin/schools", params={"q": "不存在"})).text())
    assert "没有与“不存在”匹配的记录" in nothing
    assert (await app_client.get("/admin/castles")).status == 404
    assert (await app_client.get("/admin/schools/99999")).status == 404


@SQLITE_ONLY
async def test_names_are_escaped(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    evil = '<script>alert("x")</script>"><b>'
    response = await post_form(app_client, "/admin/schools/new", {
        "name": evil, "kind": "school", "county": "清城区", "time_zone": "Asia/Shanghai",
    })
    assert response.status == 303
    for path in ("/admin/schools", response.headers["Location"], "/admin/classrooms/new"):
        html = await (await app_client.get(path)).text()
        assert evil not in html and "<script>" not in html
        assert "&lt;script&gt;" in html


async def test_booking_conflict_shows_on_the_fields(app_client: TestClient) -> None:
    # The demo's teacher teaches the master lesson at 14:00 and English at 15:00 to the same
    # teaching points: moving the former onto the latter double-books both.
    await sign_in(app_client, "admin")
    master = await one(app_client, Lesson, Lesson.kind == "master_teacher")
    html = await (await app_client.get(f"/admin/lessons/{master.id}")).text()
    form = dict(_lesson_form(html))
    start, end = form["planned_start"], form["planned_end"]
    assert start.endswith("T14:00") and end.endswith("T14:40")
    response = await post_form(app_client, f"/admin/lessons/{master.id}", _lesson_form(
        html, planned_start=start.replace("T14:00", "T15:10"),
        planned_end=end.replace("T14:40", "T15:30")))
    assert response.status == 422
    errors = field_errors(await response.text())
    assert "该教师此时已有课堂" in errors["teacher_id"] and "三年级英语（专递课堂）" in errors["teacher_id"]
    assert errors["linked_classroom_ids"].startswith("教室“一年级教室”已被课堂")
    assert (await one(app_client, Lesson, Lesson.id == master.id)).planned_start == master.planned_start
