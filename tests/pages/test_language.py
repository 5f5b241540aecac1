"""Simplified Chinese by default; English on request, remembered in a cookie."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from server.http import LANG_COOKIE

from .conftest import SQLITE_ONLY, field_errors, post_form, sign_in, text_of


@SQLITE_ONLY
async def test_chinese_by_default_english_on_request(app_client: TestClient) -> None:
    login = await app_client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    html = await login.text()
    assert '<html lang="zh-CN">' in html and "登录课联" in text_of(html)

    await sign_in(app_client, "teacher")
    home = text_of(await (await app_client.get("/")).text())
    assert "课联" in home and "今日课堂" in home and "未来七天" in home and "退出登录" in home

    switch = await app_client.get("/lang/en", params={"next": "/admin/lessons?page=1"},
                                  allow_redirects=False)
    assert switch.status == 302 and switch.headers["Location"] == "/admin/lessons?page=1"
    cookie = next(c for c in switch.headers.getall("Set-Cookie") if c.startswith(LANG_COOKIE))
    assert "en" in cookie and "samesite=lax" in cookie.lower()

    html = await (await app_client.get("/")).text()
    home = text_of(html)
    assert '<html lang="en">' in html
    assert "课联" in home  # the product's name stays
    assert "Today's lessons" in home and "The next seven days" in home and "Sign out" in home
    assert "Dedicated classroom" in home and "Teacher" in home
    assert "今日课堂" not in home

    await app_client.get("/lang/zh_CN")
    assert "今日课堂" in text_of(await (await app_client.get("/")).text())


@SQLITE_ONLY
async def test_english_errors_and_form_messages(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")  # (signing in drops the cookies)
    await app_client.get("/lang/en")
    missing = await app_client.get("/nowhere")
    assert missing.status == 404
    assert "Page not found" in text_of(await missing.text())
    response = await post_form(app_client, "/admin/classrooms/new", {"school_id": "", "name": ""})
    assert response.status == 422
    errors = field_errors(await response.text())
    assert errors == {"school_id": "This field is required", "name": "This field is required"}


@SQLITE_ONLY
async def test_unknown_language_is_not_found(app_client: TestClient) -> None:
    response = await app_client.get("/lang/fr", allow_redirects=False)
    assert response.status == 404
    assert LANG_COOKIE not in response.cookies
