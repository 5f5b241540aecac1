"""The lesson library in a real browser: `kelian serve --demo` with ready Resources whose HLS was
made by PyAV at test time, and headless Chromium playing them through hls.js from npm.

Checks that playback really advances (time and decoded frames), that the quality switch and the
speed control work, the seek-bar thumbnails, resuming, the processing and failure panels, an
upload through the page's script, and the fallback to the browser's own HLS without hls.js.
Screenshots: test-artifacts/library-*.png at 1366x768 and on a phone (390x844).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from server.library.storage import LibraryStorage
from server.models import (
    Job,
    JobState,
    LessonKind,
    ResourceState,
    School,
    SchoolKind,
    User,
    Visibility,
    utcnow,
)
from tests.library.media import HlsFiles, make_hls
from tests.library.resources import attach_media, new_resource
from tests.pages.demo_server import serve_demo
from tests.pages.test_browser import LAPTOP, PHONE, Session

pytestmark = pytest.mark.browser

PATIENCE_MS = 45_000  # a busy two-core machine decodes slowly
TITLE = "三年级音乐《小雨沙沙》示范课"
MORE = (
    ("四年级英语 Unit 3 What's the weather like?", "英语", "四年级", LessonKind.famous_school),
    ("二年级美术：画秋天的树叶", "美术", "二年级", LessonKind.dedicated),
    ("五年级数学《分数的意义》教研课", "数学", "五年级", LessonKind.master_teacher),
    ("一年级语文《小小的船》", "语文", "一年级", LessonKind.famous_school),
    ("三年级音乐：节奏练习", "音乐", "三年级", LessonKind.dedicated),
)


def seed(data_dir: Path, hls: HlsFiles) -> dict[str, int]:
    """Resources in the running server's database and library, as the transcode job leaves them."""
    storage = LibraryStorage(data_dir / "library")
    engine = create_engine(f"sqlite:///{data_dir / 'kelian.db'}")
    ids: dict[str, int] = {}
    try:
        with DbSession(engine) as db:
            teacher = db.scalars(select(User).where(User.username == "teacher")).one()
            hub = db.scalars(select(School).where(School.kind == SchoolKind.hub)).one()
            mine = dict(owner_id=teacher.id, teacher_id=teacher.id, school_id=hub.id,
                        county=hub.county, visibility=Visibility.school)
            today = date.today()

            def add(name: str, title: str, media: HlsFiles | None, **fields: Any) -> None:
                resource = new_resource(title, **{**mine, **fields})
                db.add(resource)
                db.flush()
                attach_media(resource, storage, media)
                ids[name] = resource.id

            add("main", TITLE, hls, subject="音乐", grade="三年级", tags=["节奏", "示范课", "音乐"],
                lesson_kind=LessonKind.master_teacher, taught_on=today - timedelta(days=1),
                description="跟着雨声打节奏：听、拍、唱。\n适合三年级音乐课的示范与教研。")
            for n, (title, subject, grade, kind) in enumerate(MORE):
                add(f"more{n}", title, hls, subject=subject, grade=grade, lesson_kind=kind,
                    taught_on=today - timedelta(days=3 + n), views=17 * n + 3)
            add("processing", "六年级科学：水的循环", None, state=ResourceState.processing,
                subject="科学", grade="六年级")
            add("failed", "损坏的上传", None, state=ResourceState.failed,
                error="not_media: the file is not a video FFmpeg can read")
            # A transcode as a worker reports it; its lease outlasts the test.
            db.add(Job(kind="transcode", payload={"resource_id": ids["processing"]},
                       state=JobState.running, attempts=1, max_attempts=3, progress=0.42,
                       speed=3.1, worker="test-worker", subject_type="resource",
                       subject_id=str(ids["processing"]),
                       lease_until=utcnow() + timedelta(hours=2), started_at=utcnow()))
            db.commit()
    finally:
        engine.dispose()
    return ids


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> HlsFiles:
    return make_hls(tmp_path_factory.mktemp("media"), seconds=20)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory,
            media: HlsFiles) -> Iterator[tuple[str, dict[str, int]]]:
    data = tmp_path_factory.mktemp("serve")
    server = serve_demo(tmp_path_factory, data_dir=data)
    url = next(server)
    try:
        yield url, seed(data, media)
    finally:
        server.close()  # stops (and reaps) the server


def until(check: Callable[[], Any], what: str, timeout_ms: int = PATIENCE_MS) -> Any:
    deadline = time.monotonic() + timeout_ms / 1000
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout_ms / 1000:.0f} s (last: {last!r})")


def video_state(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const v = document.getElementById('player-video');
        const q = v.getVideoPlaybackQuality();
        return {time: v.currentTime, frames: q.totalVideoFrames, height: v.videoHeight,
                rate: v.playbackRate, paused: v.paused, error: v.error && v.error.message,
                engine: document.getElementById('player').dataset.engine,
                level: document.getElementById('player').dataset.level};
    }""")


def plays(page: Any, beyond: float = 1.0) -> dict[str, Any]:
    """Wait until the video's time passed `beyond` seconds with frames decoded."""
    return until(lambda: (lambda s: s if s["time"] > beyond and s["frames"] > 0 else None)(
        video_state(page)), f"playback beyond {beyond} s")


def posters_loaded(page: Any) -> bool:
    """The posters in view have loaded (the others load lazily, when scrolled to)."""
    return page.evaluate("[...document.querySelectorAll('.resource-poster img')]"
                         ".filter(i => i.getBoundingClientRect().top < innerHeight)"
                         ".every(i => i.complete && i.naturalWidth > 0)")


def test_catalogue_and_player(browser: Any, library: tuple[str, dict[str, int]]) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_MS)
    base, ids = library
    s = Session(browser, base, LAPTOP)
    page = s.page
    s.sign_in("teacher", "kelian-teacher")
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="资源库").click()
    expect(page.get_by_role("heading", name="课程资源库", exact=True)).to_be_visible()
    expect(page.locator(".resource-card")).to_have_count(8)  # 6 ready + own processing, failed
    until(lambda: posters_loaded(page), "the posters")
    s.assert_fits()
    s.shot("library-catalogue-1366")

    # Part of a Chinese title finds it.
    page.get_by_label("搜索资源库").fill("雨沙")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator(".resource-card")).to_have_count(1)
    expect(page.locator(".resource-card").get_by_text(TITLE)).to_be_visible()
    page.get_by_text("筛选", exact=True).click()
    page.get_by_label("学科").select_option("音乐")
    page.get_by_role("button", name="应用筛选").click()
    expect(page.locator(".resource-card")).to_have_count(1)
    s.shot("library-search-1366")

    # The player: hls.js from npm, real playback.
    page.locator(".resource-card").first.click()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    until(lambda: video_state(page)["engine"], "the player to start")
    assert video_state(page)["engine"] == "hls.js"
    page.locator("#player-big-play").click()
    state = plays(page)
    assert state["error"] is None and not state["paused"]

    # Quality: one rung, then back to automatic.
    page.locator("#player-quality").select_option(label="360p")
    until(lambda: (lambda st: st["level"] == "360p" and st["height"] == 360)(video_state(page)),
          "switching to 360p")
    at = video_state(page)["time"]
    plays(page, beyond=at + 1)
    page.locator("#player-quality").select_option(label="720p")
    until(lambda: video_state(page)["height"] == 720, "switching to 720p")
    page.locator("#player-quality").select_option("auto")
    expect(page.locator("#player-quality option").first).to_contain_text("自动")

    # Speed.
    page.locator("#player-speed").select_option("1.5")
    assert video_state(page)["rate"] == 1.5
    at = video_state(page)["time"]
    plays(page, beyond=at + 1)

    # Seek-bar thumbnails from the WebVTT sprite.
    box = page.locator("#player-seek").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    preview = page.locator("#player-preview")
    expect(preview).to_be_visible()
    image = page.evaluate("getComputedStyle(document.querySelector('.player-preview-image'))"
                          ".backgroundImage")
    assert "sprite.jpg" in image
    s.assert_fits()
    s.shot("library-player-1366")

    # Resume where this browser left off.
    until(lambda: video_state(page)["time"] > 7, "playing past 7 s")
    page.locator("#player-play").click()  # pause: the position is saved
    left_at = video_state(page)["time"]
    page.reload()
    expect(page.locator("#player-resume")).to_be_visible()
    expect(page.locator("#player-resume")).to_contain_text("继续播放")
    until(lambda: abs(video_state(page)["time"] - int(left_at)) < 2, "resuming at the saved time")
    page.locator("#player-big-play").click()
    plays(page, beyond=left_at + 0.5)

    # Downloads are there, and a download is one MPEG-TS file.
    link = page.locator(f'a[href="/library/{ids["main"]}/download/360p"]')
    expect(link).to_be_visible()
    answer = s.context.request.get(base + f"/library/{ids['main']}/download/360p")
    assert answer.ok and answer.headers["content-type"] == "video/mp2t"
    assert answer.body()[:1] == b"\x47"  # the TS sync byte
    expect(page.get_by_role("link", name="编辑信息")).to_be_visible()

    # Processing and failure, as their owner sees them.
    page.goto(base + f"/library/{ids['processing']}")
    expect(page.locator("#processing-text")).to_contain_text("42%")
    until(lambda: "3.1" in page.locator("#processing-text").inner_text(), "the polled speed")
    s.shot("library-processing-1366")
    page.goto(base + f"/library/{ids['failed']}")
    expect(page.get_by_text("not_media: the file is not a video FFmpeg can read")).to_be_visible()
    s.shot("library-failed-1366")
    s.close()


def test_upload_edit_and_delete(browser: Any, library: tuple[str, dict[str, int]],
                                media: HlsFiles) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_MS)
    base, _ = library
    s = Session(browser, base, LAPTOP)
    page = s.page
    s.sign_in("teacher", "kelian-teacher")
    page.goto(base + "/library")
    page.get_by_role("link", name="上传视频").click()
    expect(page.get_by_role("heading", name="上传课程视频")).to_be_visible()
    page.get_by_role("button", name="上传", exact=True).click()  # nothing chosen yet
    expect(page.locator("#upload-errors")).to_contain_text("请先选择视频文件")
    page.get_by_label("标题").fill("上传测试：四年级音乐")
    page.get_by_label("学科").fill("音乐")
    page.get_by_label("标签").fill("上传 测试")
    page.get_by_label("视频文件").set_input_files(str(media.directory.parent / "lesson.mkv"))
    s.assert_fits()
    s.shot("library-upload-1366")
    page.get_by_role("button", name="上传", exact=True).click()
    page.wait_for_url("**/library/*?notice=uploaded")
    expect(page.get_by_role("heading", name="上传测试：四年级音乐")).to_be_visible()
    expect(page.get_by_role("status").first).to_contain_text("视频已上传")
    resource = page.url.split("/library/", 1)[1].split("?", 1)[0]

    # The server's job runner transcodes it; the processing panel reloads into the player.
    expect(page.locator("#player-video")).to_be_attached(timeout=180_000)
    page.locator("#player-big-play").click()
    plays(page)

    page.goto(f"{base}/library/{resource}/edit")
    page.get_by_label("年级").fill("四年级")
    page.get_by_role("button", name="保存修改").click()
    expect(page.get_by_text("四年级", exact=True)).to_be_visible()
    page.goto(f"{base}/library/{resource}/delete")
    page.get_by_role("button", name="确定删除").click()
    page.wait_for_url("**/library?notice=resource_deleted")
    expect(page.get_by_text("资源及其文件已删除")).to_be_visible()
    s.close()


def test_phone_and_english(browser: Any, library: tuple[str, dict[str, int]]) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_MS)
    base, ids = library
    s = Session(browser, base, PHONE)
    page = s.page
    s.sign_in("observer", "kelian-observer")
    page.goto(base + "/library")
    expect(page.locator(".resource-card")).to_have_count(6)  # ready ones only
    until(lambda: posters_loaded(page), "the posters")
    s.assert_fits()
    s.shot("library-catalogue-390")
    page.goto(base + f"/library/{ids['main']}")
    page.locator("#player-big-play").click()
    plays(page)
    s.assert_fits()
    s.shot("library-player-390")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="About this lesson")).to_be_visible()
    s.close()

    s = Session(browser, base, LAPTOP)
    s.sign_in("observer", "kelian-observer")
    s.page.goto(base + "/lang/en?next=/library")
    expect(s.page.get_by_role("heading", name="Lesson library")).to_be_visible()
    until(lambda: posters_loaded(s.page), "the posters")
    s.shot("library-catalogue-en-1366")
    s.close()


def test_native_hls_without_hls_js(browser: Any, library: tuple[str, dict[str, int]]) -> None:
    """With hls.js unavailable the page uses the browser's own HLS where it has one, and says
    plainly when it has none."""
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_MS)
    base, ids = library
    s = Session(browser, base, LAPTOP)
    page = s.page
    page.route("**/static/vendor/hls.mjs", lambda route: route.abort())
    s.sign_in("teacher", "kelian-teacher")
    page.goto(base + f"/library/{ids['main']}")
    engine = until(lambda: video_state(page)["engine"], "the player to choose")
    native = page.evaluate("document.createElement('video')"
                           ".canPlayType('application/vnd.apple.mpegurl')")
    if native:
        assert engine == "native"
        page.locator("#player-big-play").click()
        plays(page)
    else:
        assert engine == "none"
        expect(page.locator("#player-message")).to_contain_text("无法播放")
    s.errors = [e for e in s.errors if "ERR_FAILED" not in e]  # the refused module
    s.close()



def test_admin_storage(browser: Any, library: tuple[str, dict[str, int]]) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_MS)
    base, _ = library
    s = Session(browser, base, LAPTOP)
    s.sign_in("admin", "kelian-admin")
    s.page.goto(base + "/library")
    s.page.get_by_role("link", name="存储空间").click()
    expect(s.page.get_by_role("heading", name="资源库存储")).to_be_visible()
    expect(s.page.locator("meter.disk-meter")).to_be_visible()
    s.assert_fits()
    s.shot("library-storage-1366")
    s.close()
