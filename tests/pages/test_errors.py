"""Error pages: friendly, translated, with the right status."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from .conftest import SQLITE_ONLY, csrf, sign_in, text_of


@SQLITE_ONLY
async def test_not_found_page(app_client: TestClient) -> None:
    response = await app_client.get("/no/such/page")
    assert response.status == 404
    text = text_of(await response.text())
    assert "页面不存在" in text and "返回首页" in text
    assert response.headers["Content-Type"].startswith("text/html")


@SQLITE_ONLY
async def test_forbidden_page_names_the_reason(app_client: TestClient) -> None:
    await sign_in(app_client, "teacher")
    response = await app_client.get("/admin/users/new")
    assert response.status == 403
    text = text_of(await response.text())
    assert "无权操作" in text and "您无权创建此用户" in text


@SQLITE_ONLY
async def test_too_large_page(app_client: TestClient) -> None:
    token = await csrf(app_client)
    response = await app_client.post("/login", data={"_csrf": token, "username": "x" * 400_000},
                                     allow_redirects=False)
    assert response.status == 413
    assert "提交的数据过大" in text_of(await response.text())


@SQLITE_ONLY
async def test_method_not_allowed_page(app_client: TestClient) -> None:
    response = await app_client.get("/logout")
    assert response.status == 405
    assert "此处不支持该操作" in text_of(await response.text())


@SQLITE_ONLY
async def test_api_errors_stay_json(app_client: TestClient) -> None:
    response = await app_client.get("/api/v1/nothing-here", headers={"Authorization": "Basic x"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthenticated"


@SQLITE_ONLY
async def test_bad_bearer_on_a_page_goes_to_sign_in(app_client: TestClient) -> None:
    response = await app_client.get("/admin/schools", headers={"Authorization": "Bearer kt_nope"},
                                    allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/admin/schools"
