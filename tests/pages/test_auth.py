"""Signing in and out: cookies, throttling, CSRF, safe redirects, audit."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.auth.resolve import SESSION_COOKIE
from server.keys import SESSIONS, SETTINGS
from server.models import AuditEvent, User

from .conftest import PASSWORDS, SQLITE_ONLY, csrf, post_form, sign_in, text_of


async def audit_tags(client: TestClient) -> list[str]:
    async with client.app[SESSIONS]() as db:
        return list(await db.scalars(select(AuditEvent.tag).order_by(AuditEvent.id)))


async def test_sign_in_sets_a_safe_session_cookie_and_goes_next(app_client: TestClient) -> None:
    response = await app_client.get("/admin/lessons", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/admin/lessons"

    page = await app_client.get("/login?next=/admin/lessons")
    assert 'name="next" value="/admin/lessons"' in await page.text()
    response = await post_form(app_client, "/login", {
        "username": "teacher", "password": "kelian-teacher", "next": "/admin/lessons",
    })
    assert response.status == 303
    assert response.headers["Location"] == "/admin/lessons"
    cookie = next(c for c in response.headers.getall("Set-Cookie")
                  if c.startswith(SESSION_COOKIE + "="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP in tests; HTTPS requests get Secure

    home = await app_client.get("/")
    assert home.status == 200
    text = text_of(await home.text())
    assert "王老师" in text and "教师" in text
    assert await audit_tags(app_client) == ["auth.sign_in"]


async def test_wrong_password_and_unknown_user_read_the_same(app_client: TestClient) -> None:
    wrong = await post_form(app_client, "/login", {"username": "teacher", "password": "nope-nope"})
    unknown = await post_form(app_client, "/login", {"username": "nobody", "password": "nope-nope"})
    assert wrong.status == unknown.status == 401
    for response in (wrong, unknown):
        assert "用户名或密码错误" in text_of(await response.text())
        assert not any(c.startswith(SESSION_COOKIE) for c in response.headers.getall("Set-Cookie", []))
    assert 'value="teacher"' in await wrong.text()  # the username is kept, the password not
    assert await audit_tags(app_client) == ["auth.sign_in_failed"] * 2


async def test_failures_are_throttled_per_account_and_address(app_client: TestClient) -> None:
    for _ in range(app_client.app[SETTINGS].login_attempts):
        response = await post_form(app_client, "/login",
                                   {"username": "Teacher", "password": "wrong-password"})
        assert response.status == 401
    # Even the right password is refused now, whatever the case of the username.
    response = await post_form(app_client, "/login",
                               {"username": "teacher", "password": "kelian-teacher"})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in text_of(await response.text())
    # Another account from the same address is not affected.
    await sign_in(app_client, "observer")


async def test_inactive_users_cannot_sign_in(app_client: TestClient) -> None:
    await app_client.get("/login")
    async with app_client.app[SESSIONS]() as db:
        user = await db.scalar(select(User).where(User.username == "observer"))
        assert user is not None
        user.active = False
        await db.commit()
    response = await post_form(app_client, "/login",
                               {"username": "observer", "password": PASSWORDS["observer"]})
    assert response.status == 401
    assert "该账号已停用" in text_of(await response.text())


async def test_sign_in_without_the_csrf_field_is_refused(app_client: TestClient) -> None:
    await csrf(app_client)
    response = await app_client.post("/login", data={
        "username": "teacher", "password": "kelian-teacher",
    }, allow_redirects=False)
    assert response.status == 403
    assert "表单已过期或来自其他网站" in text_of(await response.text())
    response = await app_client.post("/login", data={
        "username": "teacher", "password": "kelian-teacher", "_csrf": "forged",
    }, allow_redirects=False)
    assert response.status == 403
    assert await audit_tags(app_client) == []


async def test_sign_out_ends_the_session(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    old = app_client.session.cookie_jar.filter_cookies(app_client.make_url("/"))[SESSION_COOKIE].value
    refused = await app_client.post("/logout", allow_redirects=False)  # no CSRF field
    assert refused.status == 403
    response = await post_form(app_client, "/logout", {})
    assert response.status == 303
    assert response.headers["Location"] == "/login?notice=signed_out"
    page = await app_client.get(response.headers["Location"])
    assert "您已退出登录" in text_of(await page.text())
    again = await app_client.get("/", allow_redirects=False,
                                 headers={"Cookie": f"{SESSION_COOKIE}={old}"})
    assert again.status == 302 and again.headers["Location"] == "/login"
    assert (await audit_tags(app_client))[-1] == "auth.sign_out"


@SQLITE_ONLY
@pytest.mark.parametrize(("next_value", "expected"), [
    ("https://evil.example/", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
    ("/\tevil", "/"),
    ("", "/"),
    ("/admin/schools?q=x", "/admin/schools?q=x"),
])
async def test_next_must_be_a_local_path(app_client: TestClient, next_value: str,
                                         expected: str) -> None:
    response = await post_form(app_client, "/login", {
        "username": "teacher", "password": "kelian-teacher", "next": next_value,
    })
    assert response.status == 303
    assert response.headers["Location"] == expected
    lang = await app_client.get("/lang/en", params={"next": next_value}, allow_redirects=False)
    assert lang.status == 302
    assert lang.headers["Location"] == expected


@SQLITE_ONLY
async def test_signed_in_visit_to_login_goes_home(app_client: TestClient) -> None:
    await sign_in(app_client, "admin")
    response = await app_client.get("/login?next=/admin/users", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin/users"
