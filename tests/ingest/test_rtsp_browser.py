"""An RTSP camera on a classroom terminal in a real browser.

`kelian serve --demo` runs in a subprocess, GStreamer's RTSP server (tests/ingest/camera.py) is
a camera of the hub's music room, and headless Chromium opens a teaching point's kiosk page.
The lesson starts: the terminal decodes the camera's H.264 and audio (its RTCPeerConnection
statistics). The camera drops: the terminal says it is reconnecting; it comes back: the
terminal's video resumes by itself. Screenshots go to test-artifacts/ (rtsp-*.png).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pages.conftest import browser, chromium  # noqa: F401 (fixtures)
from tests.pages.demo_server import serve_demo
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

from .camera import Camera, require_gstreamer

pytestmark = pytest.mark.browser

CAMERA = "教室摄像机"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def camera() -> Iterator[Camera]:
    require_gstreamer()
    camera = Camera()
    camera.start_now()
    try:
        yield camera
    finally:
        camera.stop_now()


def _post(screen: Screen, path: str, body: dict[str, Any] | None = None) -> Any:
    csrf = next(c["value"] for c in screen.context.cookies() if c["name"] == "kelian_csrf")
    response = screen.context.request.post(
        screen.base + path, data=json.dumps(body or {}),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert response.ok, f"POST {path}: {response.status} {response.text()}"
    return response.json()


def test_a_terminal_plays_an_rtsp_camera_and_resumes_after_it_drops(
        browser: Any, server: str, camera: Camera) -> None:  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    admin = Screen(browser, server, LAPTOP, "admin")
    point = Screen(browser, server, TV, "point")
    try:
        admin.sign_in("admin", "kelian-admin")
        lesson = _todays_dedicated_lesson(admin)
        _post(admin, "/api/v1/sources", {
            "classroom_id": lesson["host_classroom_id"], "name": CAMERA, "kind": "rtsp",
            "role": "teacher", "url": camera.url()})
        token = issue_tokens(admin, lesson["linked_classroom_ids"][:1])[0]
        point.page.goto(f"{server}/terminal#token={token}")
        expect(point.page.get_by_text("下一节课")).to_be_visible()

        _post(admin, f"/api/v1/lessons/{lesson['id']}/start")
        expect(point.page.locator("#live")).to_be_visible()
        # The camera is the only publisher: its pictures carry its classroom's label.
        label = eventually(lambda: next((e["label"] for e in point.inbound()
                                         if e["kind"] == "video"), None), "the camera arrives")
        decodes(point, label, "video")
        decodes(point, label, "audio")
        point.shot("terminal-camera-1920", prefix="rtsp-")

        camera.stop_now()
        expect(point.page.locator("#live-notices")).to_contain_text("摄像机已断开，正在重新连接")
        point.shot("terminal-reconnecting-1920", prefix="rtsp-")
        camera.start_now()
        expect(point.page.locator("#live-notices")).to_contain_text("摄像机已恢复")
        decodes(point, label, "video")  # the same publication: no new offer was needed
        point.shot("terminal-restored-1920", prefix="rtsp-")

        _post(admin, f"/api/v1/lessons/{lesson['id']}/end")
        expect(point.page.locator("#waiting")).to_be_visible()
        assert not point.errors, point.errors
    except BaseException:
        point.shot("failed-point", prefix="rtsp-")
        print(point.diagnose())
        raise
    finally:
        point.close()
        admin.close()
