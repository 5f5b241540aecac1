"""The pages in a real browser: `kelian serve --demo` in a subprocess, headless Chromium.

Screenshots land in test-artifacts/ (git-ignored) for people to look at: the dashboard in both
languages, admin pages, at a laptop's 1366x768 and a classroom TV's 1920x1080.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pages.demo_server import serve_demo

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LAPTOP = {"width": 1366, "height": 768}
TV = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
MASTER_LESSON = "名师课堂：三年级音乐《小雨沙沙》示范课"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service on the demo data; stopped (and reaped) at the end."""
    yield from serve_demo(tmp_path_factory)


class Session:
    """One browser context (its own cookies) watching for console errors such as CSP refusals."""

    def __init__(self, browser: object, base: str, viewport: dict[str, int]) -> None:
        self.base = base
        # A classroom computer set up in Chinese (native date pickers follow the browser).
        self.context = browser.new_context(  # type: ignore[attr-defined]
            viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # The browser logs every 4xx answer; the pages answer 4xx on purpose (a form with
        # errors is 422). Anything else (a CSP refusal, a script error) counts.
        if message.type == "error" and not message.text.startswith(
                "Failed to load resource: the server responded with a status of 4"):
            self.errors.append(message.text)

    def sign_in(self, username: str, password: str) -> None:
        page = self.page
        page.goto(self.base + "/")
        assert page.url.startswith(self.base + "/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(self.base + "/")

    def shot(self, name: str) -> Path:
        """What the screen shows (NAME.png) and the whole page (NAME-full.png)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-full.png"), full_page=True)
        return path

    def assert_fits(self) -> None:
        """No sideways scrolling: the page is as wide as the window."""
        overflow = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{self.page.url} is {overflow}px too wide"

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def test_teacher_dashboard_in_both_languages(browser: object, server: str) -> None:
    from playwright.sync_api import expect

    for viewport, label in ((TV, "1920"), (LAPTOP, "1366"), (PHONE, "390")):
        s = Session(browser, server, viewport)
        s.sign_in("teacher", "kelian-teacher")
        page = s.page
        expect(page.get_by_role("heading", name="今日课堂")).to_be_visible()
        today = page.locator("section.today")
        expect(today.get_by_text(MASTER_LESSON)).to_be_visible()
        expect(today.get_by_text("三年级音乐（专递课堂）")).to_be_visible()
        expect(page.get_by_text("王老师").first).to_be_visible()
        s.assert_fits()
        s.shot(f"dashboard-zh-{label}")

        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", name="Today's lessons")).to_be_visible()
        expect(page.get_by_text(MASTER_LESSON)).to_be_visible()
        expect(page.get_by_text("Master-teacher classroom").first).to_be_visible()
        s.assert_fits()
        s.shot(f"dashboard-en-{label}")

        page.get_by_role("link", name="简体中文").click()
        expect(page.get_by_role("heading", name="今日课堂")).to_be_visible()

        page.get_by_text("新建临时课堂").click()
        expect(page.get_by_label("标题")).to_be_visible()
        s.assert_fits()
        s.shot(f"dashboard-adhoc-{label}")
        s.close()


def test_admin_pages(browser: object, server: str) -> None:
    from playwright.sync_api import expect

    s = Session(browser, server, LAPTOP)
    s.sign_in("admin", "kelian-admin")
    page = s.page
    for slug, heading in (("lessons", "课堂"), ("timetable", "课表"), ("users", "用户")):
        page.get_by_role("navigation", name="主菜单").get_by_role("link", name=heading, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        s.assert_fits()
        s.shot(f"admin-{slug}-1366")

    page.goto(server + "/admin/timetable/new")
    page.get_by_role("button", name="创建").click()  # empty: the form comes back with errors
    expect(page.get_by_text("表单未保存")).to_be_visible()
    expect(page.get_by_text("此项为必填项").first).to_be_visible()
    s.assert_fits()
    s.shot("admin-timetable-errors-1366")

    page.goto(server + "/admin/terminals")
    page.get_by_role("button", name="签发令牌").first.click()
    token = page.locator("input.token").input_value()
    assert re.fullmatch(r"kt_[A-Za-z0-9_-]{20,}", token)
    expect(page.get_by_text("此令牌只显示这一次")).to_be_visible()
    s.shot("admin-terminal-token-1366")
    s.close()

    tv = Session(browser, server, TV)
    tv.sign_in("admin", "kelian-admin")
    tv.page.goto(server + "/admin/lessons")
    tv.assert_fits()
    tv.shot("admin-lessons-1920")
    tv.page.goto(server + "/admin/lessons/1")
    tv.assert_fits()
    tv.shot("admin-lesson-edit-1920")
    tv.close()


def test_sign_in_page_and_errors(browser: object, server: str) -> None:
    from playwright.sync_api import expect

    s = Session(browser, server, LAPTOP)
    page = s.page
    page.goto(server + "/login")
    page.get_by_label("用户名").fill("teacher")
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    s.shot("login-error-1366")
    page.goto(server + "/no/such/page")
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    s.shot("not-found-1366")
    s.close()
