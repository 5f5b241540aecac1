"""From a live lesson to the library, in real browsers: the teacher teaches a recorded
master-teacher lesson for ~20 s in headless Chromium (fake camera and microphone), ends it, the
recording is transcoded by the server's own job runner, and the Resource appears in the
library with its poster and renditions; Chromium plays its HLS stream (time advances, frames
are decoded). Screenshots: test-artifacts/library-e2e-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pages.demo_server import serve_demo
from tests.pages.test_live_browser import LAPTOP, PATIENCE_S, Screen, decodes, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEACHING_S = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_demo(tmp_path_factory)


def test_a_taught_lesson_is_replayed_from_the_library(browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    teacher = Screen(browser, server, LAPTOP, "teacher")
    observer = Screen(browser, server, LAPTOP, "observer")
    try:
        teacher.sign_in("teacher", "kelian-teacher")
        lesson = teacher.api("GET", "/api/v1/lessons?kind=master_teacher&status=scheduled"
                             )["items"][0]
        assert lesson["record"] is True  # lessons are recorded unless told otherwise
        console = teacher.page
        console.goto(f"{server}/lessons/{lesson['id']}/live")
        console.get_by_role("button", name="开始上课").click()
        expect(console.locator("#live-recording")).to_be_visible()  # the red mark
        observer.sign_in("observer", "kelian-observer")
        observer.page.goto(f"{server}/lessons/{lesson['id']}/live")
        decodes(observer, "王老师", "video")  # the teacher really publishes
        expect(observer.page.locator("#live-recording")).to_be_visible()
        teacher.shot("e2e-console-recording-1366", prefix="library-")
        time.sleep(TEACHING_S)
        console.get_by_role("button", name="结束课堂").click()
        console.get_by_role("button", name="再次点击，为所有人结束课堂").click()
        expect(console.get_by_text("本节课已结束。")).to_be_visible()

        def published() -> dict[str, Any] | None:
            items = teacher.api("GET", "/api/v1/resources?limit=50")["items"]
            found = next((r for r in items if r["lesson_id"] == lesson["id"]), None)
            if found is None or found["state"] == "processing":
                return None
            return found

        resource = eventually(published, "the lesson's recording is in the library")
        assert resource["state"] == "ready", resource["error"]
        assert resource["poster_url"] and resource["renditions"]
        assert TEACHING_S - 3 < resource["duration_s"] < TEACHING_S + 30

        # The catalogue shows it with its poster; the player page plays it.
        library = teacher.page
        library.goto(f"{server}/library")
        card = library.locator(f'a[href="{resource["page_url"]}"]').first
        expect(card).to_be_visible()
        eventually(lambda: library.evaluate(
            "[...document.images].some(i => i.complete && i.naturalWidth > 0"
            " && i.src.includes('/files/'))"), "the poster shows in the catalogue")
        teacher.shot("e2e-catalogue-1366", prefix="library-")
        library.goto(server + resource["page_url"])
        video = library.locator("video").first
        expect(video).to_be_visible()
        library.evaluate("document.querySelector('video').muted = true;"
                         " document.querySelector('video').play()")
        eventually(lambda: library.evaluate(
            "(() => { const v = document.querySelector('video');"
            " return v.currentTime > 3 && v.getVideoPlaybackQuality().totalVideoFrames > 30; })()"),
            "the recording plays in the browser")
        teacher.shot("e2e-player-1366", prefix="library-")
        errors = teacher.errors + observer.errors
        assert not errors, errors
    finally:
        teacher.close()
        observer.close()
