"""The holidays admin page (节假日): listed by day with their scope, created from the form in
Chinese, and one scope per holiday (a school or a county) marked on the field."""

from __future__ import annotations

from datetime import date

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from server.keys import SESSIONS
from server.models import Holiday, School

from .conftest import SQLITE_ONLY, field_errors, post_form, sign_in, text_of


async def _holidays(client: TestClient) -> list[Holiday]:
    async with client.app[SESSIONS]() as db:
        return list(await db.scalars(select(Holiday).order_by(Holiday.day)))


@SQLITE_ONLY
async def test_admin_lists_and_creates_holidays_in_chinese(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    async with app_client.app[SESSIONS]() as db:
        hub = (await db.scalars(select(School).where(School.kind == "hub"))).one()
    before = len(await _holidays(app_client))

    response = await post_form(app_client, "/admin/holidays/new", {
        "day": "2030-10-01", "name": " 国庆节 ", "school_id": "", "county": "",
        "teaches_weekday": "",
    })
    assert response.status == 303, await response.text()
    swapped = await post_form(app_client, "/admin/holidays/new", {
        "day": "2030-10-12", "name": "国庆调休", "school_id": str(hub.id), "county": "",
        "teaches_weekday": "5",
    })
    assert swapped.status == 303
    made = {h.name: h for h in await _holidays(app_client)}
    assert len(made) == before + 2
    national, swap = made["国庆节"], made["国庆调休"]
    assert (national.day, national.school_id, national.county, national.teaches_weekday) == \
        (date(2030, 10, 1), None, None, None)
    assert (swap.school_id, swap.county, swap.teaches_weekday) == (hub.id, None, 5)

    listing = text_of(await (await app_client.get("/admin/holidays")).text())
    assert "节假日" in listing and "下一次生成课表时" in listing
    for heading in ("日期", "名称", "范围", "调休上课"):
        assert heading in listing
    assert "2030-10-01 国庆节 全部学校 否" in listing
    assert f"2030-10-12 国庆调休 {hub.name} 星期五" in listing
    assert listing.index("2030-10-01") < listing.index("2030-10-12")  # by day


@SQLITE_ONLY
async def test_school_and_county_together_is_a_field_error(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    async with app_client.app[SESSIONS]() as db:
        hub = (await db.scalars(select(School).where(School.kind == "hub"))).one()
        before = await db.scalar(select(func.count()).select_from(Holiday))
    response = await post_form(app_client, "/admin/holidays/new", {
        "day": "2030-10-01", "name": "国庆节", "school_id": str(hub.id), "county": "清城区",
        "teaches_weekday": "",
    })
    assert response.status == 422
    html = await response.text()
    assert field_errors(html)["county"] == "学校和区县只能填一项；都不填表示全部学校"
    assert "表单未保存" in text_of(html)
    async with app_client.app[SESSIONS]() as db:
        assert await db.scalar(select(func.count()).select_from(Holiday)) == before


@SQLITE_ONLY
async def test_teachers_read_holidays_and_cannot_add_them(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    listing = await app_client.get("/admin/holidays")
    assert listing.status == 200
    html = await listing.text()
    assert 'href="/admin/holidays/new"' not in html and "校运动会" in text_of(html)
    response = await post_form(app_client, "/admin/holidays/new",
                               {"day": "2030-10-01", "name": "x"})
    assert response.status == 403
