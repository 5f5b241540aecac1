"""An RTMP encoder on a classroom terminal in a real browser.

`kelian serve --demo` runs in a subprocess with its RTMP port open; an RTMP source is added to
the hub's music room through the API; Debian's ffmpeg pushes H.264 and AAC with its stream key
before the lesson starts, as a recording-system encoder switched on in the morning would.
Headless Chromium opens a teaching point's kiosk page; the lesson starts and the terminal
decodes the encoder's video and sound. Screenshots go to test-artifacts/ (rtmp-*.png).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.ingest.test_rtsp_browser import _post
from tests.pages.conftest import browser, chromium  # noqa: F401 (fixtures)
from tests.pages.demo_server import free_port, serve_demo
from tests.pages.test_live_browser import (
    LAPTOP,
    PATIENCE_S,
    TV,
    Screen,
    _todays_dedicated_lesson,
    decodes,
    eventually,
    issue_tokens,
)

pytestmark = pytest.mark.browser

ENCODER = "录播主机"
# How many offers the page's session has answered (a renegotiation would add one).
OFFERS = "window.kelian.session.offersReceived"


def _flowing(screen: Screen, label: str) -> bool:
    """Whether `label`'s camera still decodes new frames on `screen` (over a second)."""
    def frames() -> int:
        return sum(int(e.get("framesDecoded") or 0) for e in screen.inbound()
                   if e.get("label") == label and e.get("kind") == "video")
    before = frames()
    time.sleep(1.0)
    return frames() > before
RTMP_PORT = free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("ffmpeg") is None:
        skip_or_fail("Debian's ffmpeg is not installed (apt-get install ffmpeg)",
                     "KELIAN_TEST_REQUIRE_FFMPEG")
    yield from serve_demo(tmp_path_factory, settings={"KELIAN_RTMP_PORT": str(RTMP_PORT)})


@pytest.fixture
def push() -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(key: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
             "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             "-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
             "-g", "50", "-c:a", "aac", "-f", "flv",
             f"rtmp://127.0.0.1:{RTMP_PORT}/live/{key}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_terminal_plays_an_rtmp_encoder(browser: Any, server: str,  # noqa: F811
                                          push: Any) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    admin = Screen(browser, server, LAPTOP, "admin")
    teacher = Screen(browser, server, LAPTOP, "teacher")
    point = Screen(browser, server, TV, "point")
    try:
        admin.sign_in("admin", "kelian-admin")
        lesson = _todays_dedicated_lesson(admin)
        source = _post(admin, "/api/v1/sources", {
            "classroom_id": lesson["host_classroom_id"], "name": ENCODER, "kind": "rtmp",
            "role": "teacher"})
        encoder = push(source["stream_key"])
        token = issue_tokens(admin, lesson["linked_classroom_ids"][:1])[0]
        point.page.goto(f"{server}/terminal#token={token}")
        expect(point.page.get_by_text("下一节课")).to_be_visible()

        _post(admin, f"/api/v1/lessons/{lesson['id']}/start")
        expect(point.page.locator("#live")).to_be_visible()
        label = eventually(lambda: next((e["label"] for e in point.inbound()
                                         if e["kind"] == "video"), None), "the encoder arrives")
        decodes(point, label, "video")
        decodes(point, label, "audio")
        video = next(e for e in point.inbound() if e["kind"] == "video")
        assert (video["frameWidth"], video["frameHeight"]) == (640, 360)
        point.shot("terminal-encoder-1920", prefix="rtmp-")
        assert encoder.poll() is None  # still pushing

        # The teacher opens the console: two hub cameras now, and the teacher picks the one the
        # classrooms see; the other is no longer sent, and nobody renegotiates.
        teacher.sign_in("teacher", "kelian-teacher")
        teacher.page.goto(f"{server}/lessons/{lesson['id']}/live")
        decodes(point, "王老师", "video")
        panel = teacher.page.locator("#cameras-panel")
        expect(panel).to_be_visible()
        offers = point.page.evaluate(OFFERS)
        panel.locator("li", has_text=ENCODER).get_by_role("button", name="设为主画面").click()
        expect(panel.locator("li", has_text=ENCODER)).to_contain_text("主画面")
        expect(panel.locator("li", has_text="您")).to_contain_text("未发送")
        eventually(lambda: not _flowing(point, "王老师"), "the teacher's camera is no longer sent")
        decodes(point, label, "video")
        expect(point.page.locator("#kiosk-stage figcaption")).to_have_text(label)
        assert point.page.evaluate(OFFERS) == offers
        teacher.shot("console-main-camera-1366", prefix="rtmp-")
        point.shot("terminal-main-camera-1920", prefix="rtmp-")
        panel.get_by_role("button", name="发送全部机位").click()
        decodes(point, "王老师", "video")

        _post(admin, f"/api/v1/lessons/{lesson['id']}/end")
        expect(point.page.locator("#waiting")).to_be_visible()
        assert encoder.poll() is None  # the encoder stays on for the next lesson
        assert not point.errors, point.errors
    except BaseException:
        point.shot("failed-point", prefix="rtmp-")
        teacher.shot("failed-teacher", prefix="rtmp-")
        print(point.diagnose())
        raise
    finally:
        point.close()
        teacher.close()
        admin.close()
