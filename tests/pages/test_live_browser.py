"""A dedicated lesson in real browsers: the teacher console and two classroom terminals.

`kelian serve --demo` runs in a subprocess; headless Chromium (Debian's, with its fake camera and
microphone) opens the teacher's console in one context and the two teaching points' kiosk
pages in two more. The test starts today's dedicated lesson, checks from each page's
RTCPeerConnection statistics that it decodes what the lesson-kind rules send it (the points
see and hear the hub and its courseware; the hub sees every point; nobody hears a point
without the floor),
moves the floor to one point and back, drops one terminal's connection (it rejoins by
itself), ends the lesson, and saves screenshots to
test-artifacts/ (live-*.png) for people to look at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import chromium_path
from tests.pages.conftest import CHROMIUM_ARGS
from tests.pages.demo_server import serve_demo

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LAPTOP = {"width": 1366, "height": 768}
TV = {"width": 1920, "height": 1080}
ZONE = "Asia/Shanghai"  # the demo schools' zone
PATIENCE_S = 150.0  # two cores shared with other test runs: media takes its time, and an
# overloaded machine looks like a weak link to the relay (video paused, then tried again)
# What a page's received publications look like (web/static/live/session.js inboundStats()).
INBOUND = "window.kelian && window.kelian.session ? window.kelian.session.inboundStats() : []"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service on fresh demo data; stopped (and reaped) at the end."""
    yield from serve_demo(tmp_path_factory)


class Screen:
    """One browser context (its own cookies and storage), watching for script errors."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int], name: str) -> None:
        self.base = base
        self.name = name
        self.context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id=ZONE)
        self.page = self.context.new_page()
        self.page.set_default_timeout(PATIENCE_S * 1000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"{self.name}: {e}"))

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith(
                "Failed to load resource: the server responded with a status of 4"):
            self.errors.append(f"{self.name}: {message.text}")

    def sign_in(self, username: str, password: str) -> None:
        page = self.page
        page.goto(self.base + "/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(self.base + "/")

    def api(self, method: str, path: str) -> Any:
        """A JSON API call with this context's session cookie (and its CSRF token)."""
        csrf = next(c["value"] for c in self.context.cookies() if c["name"] == "kelian_csrf")
        response = self.context.request.fetch(self.base + path, method=method,
                                              headers={"X-CSRF-Token": csrf})
        assert response.ok, f"{method} {path}: {response.status} {response.text()}"
        return response.json()

    def inbound(self) -> list[dict[str, Any]]:
        return self.page.evaluate(INBOUND)

    def diagnose(self) -> str:
        """What this page receives and says, for a failure message."""
        try:
            notices = self.page.locator(".live-notice").all_inner_texts()
            return f"{self.name}: inbound {self.inbound()!r}; notices {notices!r}"
        except Exception as exc:  # the page itself may be what failed
            return f"{self.name}: {exc!r}"

    def shot(self, name: str, prefix: str = "live-") -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{prefix}{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()


def eventually(check: Callable[[], Any], what: str, timeout: float = PATIENCE_S) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except AssertionError as err:
            last = err
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting until {what}; last: {last!r}")
        time.sleep(0.5)


def _matching(entries: list[dict[str, Any]], label: str, kind: str, source: str) -> dict | None:
    return next((e for e in entries if e.get("label") == label and e.get("kind") == kind
                 and e.get("source") == source), None)


def _counter(entry: dict[str, Any]) -> int:
    return int(entry.get("framesDecoded" if entry["kind"] == "video" else "totalSamplesReceived")
               or 0)


def decodes(screen: Screen, label: str, kind: str, source: str = "") -> None:
    """Wait until `screen` decodes `label`'s `kind` (frames or audio samples keep growing)."""
    source = source or ("camera" if kind == "video" else "microphone")
    what = f"{screen.name} decodes {label}'s {source} ({kind})"
    first = eventually(lambda: _matching(screen.inbound(), label, kind, source), what)
    start = _counter(first)
    step = 10 if kind == "video" else 48_000  # ten frames; one second of 48 kHz audio
    try:
        eventually(lambda: (e := _matching(screen.inbound(), label, kind, source)) is not None
                   and _counter(e) >= start + step, what)
    except BaseException:
        print(screen.diagnose())
        raise


def receives_nothing_from(screen: Screen, label: str) -> bool:
    return not any(e.get("label") == label for e in screen.inbound())


def _todays_dedicated_lesson(admin: Screen) -> dict[str, Any]:
    """Today's first dedicated lesson hosted in the hub's 音乐教室 (the demo timetable's)."""
    rooms = admin.api("GET", "/api/v1/classrooms?limit=100")["items"]
    music = next(r["id"] for r in rooms if r["name"] == "音乐教室")
    lessons = admin.api("GET", f"/api/v1/lessons?kind=dedicated&status=scheduled"
                               f"&host_classroom_id={music}&limit=50")["items"]
    today = datetime.now(ZoneInfo(ZONE)).date()
    lesson = next(item for item in lessons
                  if datetime.fromisoformat(item["planned_start"]).astimezone(ZoneInfo(ZONE)).date()
                  == today)
    assert len(lesson["linked_classroom_ids"]) == 2
    return lesson


def lesson_and_terminals(browser: Any, base: str, classrooms: int = 2
                         ) -> tuple[dict[str, Any], list[str]]:
    """As the demo's admin: today's dedicated lesson in the 音乐教室 and fresh terminal tokens
    for its first `classrooms` linked classrooms."""
    admin = Screen(browser, base, LAPTOP, "admin")
    try:
        admin.sign_in("admin", "kelian-admin")
        lesson = _todays_dedicated_lesson(admin)
        return lesson, issue_tokens(admin, lesson["linked_classroom_ids"][:classrooms])
    finally:
        admin.close()


def issue_tokens(admin: Screen, classroom_ids: list[int]) -> list[str]:
    tokens = []
    for classroom_id in classroom_ids:
        terminal = admin.api("GET", f"/api/v1/terminals?classroom_id={classroom_id}")["items"][0]
        tokens.append(admin.api("POST", f"/api/v1/terminals/{terminal['id']}/token")["token"])
    return tokens


def test_a_dedicated_lesson_between_the_teacher_and_two_teaching_points(browser: Any,
                                                                        server: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    lesson, tokens = lesson_and_terminals(browser, server)

    teacher = Screen(browser, server, LAPTOP, "teacher")
    points = [Screen(browser, server, TV, f"point-{i + 1}") for i in range(2)]
    screens = [teacher, *points]
    try:
        # The console before the lesson: preview, and a start button.
        teacher.sign_in("teacher", "kelian-teacher")
        console = teacher.page
        console.goto(f"{server}/lessons/{lesson['id']}/live")
        expect(console.get_by_role("heading", name=lesson["title"])).to_be_visible()
        expect(console.get_by_text("未连接")).to_have_count(2)  # both points, not yet here
        eventually(lambda: console.evaluate("document.querySelector('#self-video').readyState >= 2"),
                   "the teacher sees the own camera")  # (wait_for_function would need eval)
        teacher.shot("console-before-1366")

        # The terminals wait calmly. One is given its token in the address (kept, and dropped
        # from the address); the other is set up by typing it in, as the token page says.
        first, second = points
        first.page.goto(f"{server}/terminal#token={tokens[0]}")
        second.page.goto(f"{server}/terminal")
        expect(second.page.get_by_text("此终端尚未配置")).to_be_visible()
        second.shot("terminal-setup-1920")
        second.page.get_by_label("终端令牌").fill(tokens[1])
        second.page.get_by_role("button", name="保存并连接").click()
        for screen, token in zip(points, tokens, strict=True):
            expect(screen.page.get_by_text("下一节课")).to_be_visible()
            assert screen.page.url == f"{server}/terminal"
            assert screen.page.evaluate("localStorage.getItem('kelian.terminal.token')") == token
        first.shot("terminal-waiting-1920")

        console.get_by_role("button", name="开始上课").click()
        expect(console.locator("#live-status")).to_have_text("直播中")

        # The terminals notice the live lesson by themselves (they poll) and join it.
        labels = []
        for screen in points:
            expect(screen.page.locator("#live")).to_be_visible()
            labels.append(eventually(
                lambda s=screen: s.page.evaluate(
                    "window.kelian.session && window.kelian.session.room"
                    " && window.kelian.session.room.you.classroom"),
                f"{screen.name} has joined"))
        a, b = points
        label_a, label_b = labels
        assert label_a != label_b

        # Every point sees and hears the hub; the hub sees every point (and hears none yet).
        for screen in points:
            decodes(screen, "王老师", "video")
            decodes(screen, "王老师", "audio")
        for label in labels:
            decodes(teacher, label, "video")
            expect(console.locator(f'#grid li[data-classroom="{label}"] video')).to_be_visible()
        assert not any(e["kind"] == "audio" for e in teacher.inbound())
        assert receives_nothing_from(a, label_b) and receives_nothing_from(b, label_a)
        teacher.shot("console-live-1366")
        a.shot("terminal-live-1920")

        # Courseware: the teacher shares a screen (Chromium's fake one); the points show it big.
        console.get_by_role("button", name="共享课件").click()
        for screen in points:
            decodes(screen, "王老师", "video", "screen")
        expect(a.page.locator("#kiosk-stage figcaption")).to_have_text("课件")
        teacher.shot("console-courseware-1366")
        a.shot("terminal-courseware-1920")
        console.get_by_role("button", name="停止共享").click()
        expect(a.page.locator("#kiosk-stage figcaption")).to_have_text("王老师")

        # Point A raises its hand; the teacher sees it and gives A the floor.
        a.page.get_by_role("button", name="举手").click()
        expect(console.locator("#hand-list")).to_contain_text(label_a)
        expect(console.locator(f'#grid li[data-classroom="{label_a}"]')).to_contain_text("已举手")
        console.locator("#hand-list").get_by_role("button", name="请发言").click()

        # Everyone now hears A; B sees it too.
        decodes(b, label_a, "video")
        decodes(b, label_a, "audio")
        decodes(teacher, label_a, "audio")
        expect(a.page.locator("#live-notices")).to_contain_text("本教室正在发言")
        expect(console.locator(f'#grid li[data-classroom="{label_a}"]')).to_contain_text("正在发言")
        teacher.shot("console-floor-1366")
        b.shot("terminal-floor-1920")
        a.shot("terminal-has-floor-1920")

        # The teacher mutes A's microphone and unmutes it; A's screen says so meanwhile.
        tile_a = console.locator(f'#grid li[data-classroom="{label_a}"]')
        tile_a.get_by_role("button", name="静音", exact=True).click()
        expect(tile_a).to_contain_text("已静音")
        expect(a.page.locator("#kiosk-self figcaption")).to_have_text("老师已将本教室静音")
        tile_a.get_by_role("button", name="取消静音").click()
        expect(a.page.locator("#kiosk-self figcaption")).to_have_text("正在发言")

        # The teacher takes the floor back: B no longer receives A, nor the teacher A's sound.
        tile_a.get_by_role("button", name="收回发言").click()
        eventually(lambda: receives_nothing_from(b, label_a), "B stops receiving A")
        eventually(lambda: not any(e["kind"] == "audio" for e in teacher.inbound()),
                   "the teacher stops hearing A")
        decodes(b, "王老师", "video")  # the hub stays on B's screen throughout

        # A network drop at B: its socket dies; the terminal rejoins by itself (a new seat,
        # new media connections) and the hub and B see each other again.
        before = b.page.evaluate("window.kelian.session.room.me")
        b.page.evaluate("window.kelian.session.signalling.ws.close(4000, 'network drop')")
        eventually(lambda: b.page.evaluate(
            "window.kelian.session.room && window.kelian.session.room.me") not in (None, before),
            "B has rejoined")
        decodes(b, "王老师", "video")
        decodes(b, "王老师", "audio")
        decodes(teacher, label_b, "video")

        # The end: every terminal goes back to waiting by itself.
        end = console.get_by_role("button", name="结束课堂")
        end.click()
        console.get_by_role("button", name="再次点击，为所有人结束课堂").click()
        expect(console.get_by_text("本节课已结束。")).to_be_visible()
        for screen in points:
            expect(screen.page.locator("#waiting")).to_be_visible()
            expect(screen.page.get_by_text("本节课已结束，下次再见！")).to_be_visible()
        teacher.shot("console-ended-1366")
        a.shot("terminal-ended-1920")
        errors = [e for s in screens for e in s.errors]
        assert not errors, errors
    except BaseException:
        for screen in screens:  # what each screen showed when it went wrong
            screen.shot(f"failed-{screen.name}")
            print(screen.diagnose())
        raise
    finally:
        for screen in screens:
            screen.close()


def test_over_plain_http_on_another_host_the_console_says_that_the_camera_needs_https(
        chromium: Any, server: str) -> None:
    """Browsers give a page the camera only over HTTPS or on localhost: say so plainly."""
    from playwright.sync_api import expect

    port = server.rsplit(":", 1)[1]
    # kelian.test resolves to this machine, so the page is plain HTTP on a host that is not
    # localhost (as a classroom laptop opening http://<server's LAN address> would be).
    launched = chromium.launch(executable_path=chromium_path(), headless=True, args=[
        *CHROMIUM_ARGS, "--host-resolver-rules=MAP kelian.test 127.0.0.1"])
    try:
        base = f"http://kelian.test:{port}"
        teacher = Screen(launched, base, LAPTOP, "teacher-http")
        teacher.sign_in("teacher", "kelian-teacher")
        page = teacher.page
        lesson_id = page.evaluate(  # through the browser: only it resolves kelian.test
            "fetch('/api/v1/lessons?kind=master_teacher&status=scheduled')"
            ".then(r => r.json()).then(page => page.items[0].id)")
        page.goto(f"{base}/lessons/{lesson_id}/live")
        assert page.evaluate("window.isSecureContext") is False
        expect(page.get_by_role("alert")).to_contain_text("摄像头和麦克风需要 HTTPS")
        teacher.shot("console-needs-https-1366")
        teacher.close()
        assert not teacher.errors, teacher.errors
    finally:
        launched.close()


def test_a_master_teacher_lesson_with_an_observing_teacher(browser: Any, server: str) -> None:
    """The observer page receives only; comments reach the teacher; on stage, it publishes."""
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    teacher = Screen(browser, server, LAPTOP, "teacher")
    observer = Screen(browser, server, LAPTOP, "observer")
    try:
        teacher.sign_in("teacher", "kelian-teacher")
        lesson = teacher.api("GET", "/api/v1/lessons?kind=master_teacher&status=scheduled")["items"][0]
        console = teacher.page
        console.goto(f"{server}/lessons/{lesson['id']}/live")

        # The observer opens the page first: it waits, then joins when the teacher starts.
        observer.sign_in("observer", "kelian-observer")
        watch = observer.page
        watch.goto(f"{server}/lessons/{lesson['id']}/live")
        expect(watch.get_by_text("课堂尚未开始")).to_be_visible()
        console.get_by_role("button", name="开始上课").click()
        decodes(observer, "王老师", "video")
        decodes(observer, "王老师", "audio")
        assert not observer.page.evaluate("window.kelian.session.publisher")  # receive-only

        watch.get_by_placeholder("输入评课留言").fill("节奏示范很清楚，值得学习。")
        watch.get_by_role("button", name="发送").click()
        expect(console.locator("#chat-list")).to_contain_text("节奏示范很清楚，值得学习。")
        expect(console.locator("#chat-list")).to_contain_text("李老师")
        observer.shot("watch-master-1366")

        # Asked to speak, the observer is brought on stage: the teacher sees and hears it.
        watch.get_by_role("button", name="举手").click()
        console.locator("#hand-list").get_by_role("button", name="请上台").click()
        decodes(teacher, "李老师", "video")
        decodes(teacher, "李老师", "audio")
        expect(watch.locator("#self-tile")).to_be_visible()
        teacher.shot("console-master-stage-1366")
        console.get_by_role("button", name="请下台").click()
        eventually(lambda: receives_nothing_from(teacher, "李老师"), "the observer leaves the stage")

        console.get_by_role("button", name="结束课堂").click()
        console.get_by_role("button", name="再次点击，为所有人结束课堂").click()
        expect(watch.get_by_text("本节课已结束。").first).to_be_visible()
        errors = teacher.errors + observer.errors
        assert not errors, errors
    finally:
        teacher.close()
        observer.close()


def test_a_famous_school_broadcast_with_questions_from_an_observer(browser: Any,
                                                                   server: str) -> None:
    """The broadcast reaches a classroom terminal and an observer's page; questions go by text:
    the observer asks, the teacher answers and highlights, and the classroom TV shows it."""
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    admin = Screen(browser, server, LAPTOP, "admin")
    admin.sign_in("admin", "kelian-admin")
    lesson = admin.api("GET", "/api/v1/lessons?kind=famous_school&status=scheduled")["items"][0]
    users = admin.api("GET", "/api/v1/users?limit=100")["items"]
    observer_id = next(u["id"] for u in users if u["username"] == "observer")
    csrf = next(c["value"] for c in admin.context.cookies() if c["name"] == "kelian_csrf")
    invited = admin.context.request.patch(
        f"{server}/api/v1/lessons/{lesson['id']}", data={"observer_ids": [observer_id]},
        headers={"X-CSRF-Token": csrf})
    assert invited.ok, invited.text()
    point = next(c for c in lesson["linked_classroom_ids"])
    [token] = issue_tokens(admin, [point])
    admin.close()

    teacher = Screen(browser, server, LAPTOP, "teacher")
    observer = Screen(browser, server, LAPTOP, "observer")
    terminal = Screen(browser, server, TV, "terminal")
    screens = [teacher, observer, terminal]
    try:
        teacher.sign_in("teacher", "kelian-teacher")
        console = teacher.page
        console.goto(f"{server}/lessons/{lesson['id']}/live")
        console.get_by_role("button", name="开始上课").click()
        expect(console.locator("#live-status")).to_have_text("直播中")

        terminal.page.goto(f"{server}/terminal#token={token}")
        observer.sign_in("observer", "kelian-observer")
        watch = observer.page
        watch.goto(f"{server}/lessons/{lesson['id']}/live")
        for screen in (terminal, observer):
            decodes(screen, "王老师", "video")
            decodes(screen, "王老师", "audio")
        # A broadcast: the receiving side publishes nothing, and the teacher receives nothing.
        assert not terminal.page.evaluate("window.kelian.session.publisher")
        assert not observer.page.evaluate("window.kelian.session.publisher")
        assert teacher.inbound() == []

        question = "请问 Unit 3 的课件会放到资源库吗？"
        watch.get_by_label("您的问题").fill(question)
        watch.get_by_role("button", name="提问").click()
        asked = console.locator("#question-list li", has_text=question)
        expect(asked).to_be_visible()
        asked.get_by_label("回答").fill("会的，课后就能在资源库里找到。")
        asked.get_by_role("button", name="回答").click()
        asked.get_by_role("button", name="置顶").click()
        shown = watch.locator("#question-list li", has_text=question)
        expect(shown).to_contain_text("回答：会的，课后就能在资源库里找到。")
        expect(asked.get_by_role("button", name="取消置顶")).to_be_visible()
        # The classroom TVs show the highlighted question and its answer to the whole class.
        on_tv = terminal.page.locator("#kiosk-question")
        expect(on_tv).to_contain_text("李老师 提问")
        expect(on_tv).to_contain_text(question)
        expect(on_tv).to_contain_text("回答：会的，课后就能在资源库里找到。")
        teacher.shot("console-famous-1366")
        observer.shot("watch-famous-1366")
        terminal.shot("terminal-famous-1920")

        console.get_by_role("button", name="结束课堂").click()
        console.get_by_role("button", name="再次点击，为所有人结束课堂").click()
        expect(terminal.page.locator("#waiting")).to_be_visible()
        expect(watch.get_by_text("本节课已结束。").first).to_be_visible()
        errors = [e for s in screens for e in s.errors]
        assert not errors, errors
    except BaseException:
        for screen in screens:
            screen.shot(f"failed-{screen.name}")
            print(screen.diagnose())
        raise
    finally:
        for screen in screens:
            screen.close()
