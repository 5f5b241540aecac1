"""The library's pages, media files, downloads, uploads and JSON API through the whole app (aiohttp
test client) on SQLite and PostgreSQL, with real HLS files made by PyAV."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.http import CSRF_HEADER
from server.library.storage import LibraryStorage
from server.models import Job, JobState, Resource, ResourceState, Visibility
from tests.api.conftest import Api, fresh
from tests.api.world import World
from tests.pages.conftest import text_of

from .media import HlsFiles
from .resources import add_resource

TITLE = "三年级音乐《小雨沙沙》示范课"


@pytest.fixture
async def lesson(db: AsyncSession, world: World, storage: LibraryStorage, hls: HlsFiles) -> int:
    """A ready, school-visible Resource of `teacher` (school A Hub) with real HLS media."""
    resource = await add_resource(db, storage, TITLE, hls, owner_id=world["teacher"],
                                  teacher_id=world["teacher"], school_id=world["a_hub"],
                                  county="清城区", subject="音乐", grade="三年级",
                                  tags=["节奏", "示范课"], description="跟着雨声打节奏")
    return resource.id


async def as_user(api: Api, db: AsyncSession, world: World, name: str) -> Api:
    """A browser session of `name` (session cookie, CSRF cookie and header)."""
    return await api.signed_in(db, world[name])


def files_of(storage: LibraryStorage) -> set[str]:
    return {p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file()}


# Pages ------------------------------------------------------------------------------------------


async def test_catalogue_search_and_navigation(api: Api, db: AsyncSession, world: World,
                                               lesson: int) -> None:
    teacher2 = await as_user(api, db, world, "teacher2")
    page = await teacher2.get("/library")
    assert page.status == 200
    html = page.body.decode()
    assert 'href="/library" aria-current="page"' in html  # 资源库 in the top navigation
    assert TITLE in html and f"/library/{lesson}/files/poster.jpg" in html
    assert "0:06" in html  # duration on the card
    for query in ("小雨", "雨沙", "节奏", "Teacher", "a hub"):
        found = await teacher2.call("GET", "/library", params={"q": query})
        assert TITLE in found.body.decode(), query
    missed = await teacher2.call("GET", "/library", params={"q": "秋天"})
    assert TITLE not in missed.body.decode()
    filtered = await teacher2.call("GET", "/library", params={"subject": "音乐", "grade": "",
                                                              "tag": "节奏", "page": "1"})
    assert TITLE in filtered.body.decode()
    home = await teacher2.get("/")
    assert 'href="/library"' in home.body.decode()  # the dashboard links to the library
    # Someone of another county does not see a school-visible lesson.
    other = await as_user(api, db, world, "teacher_b")
    assert TITLE not in (await other.get("/library")).body.decode()


async def test_player_page(api: Api, db: AsyncSession, world: World, lesson: int) -> None:
    teacher2 = await as_user(api, db, world, "teacher2")
    page = await teacher2.get(f"/library/{lesson}")
    assert page.status == 200
    html = page.body.decode()
    data = json.loads(html.split('id="player-data">', 1)[1].split("</script>", 1)[0])
    assert data["master"] == f"/library/{lesson}/files/master.m3u8"
    assert data["thumbnails"] == f"/library/{lesson}/files/thumbnails.vtt"
    assert [r["name"] for r in data["renditions"]] == ["720p", "360p"]
    assert '<script type="module" src="/static/library/player.js">' in html
    text = text_of(html)
    assert "跟着雨声打节奏" in text and "下载" in text
    assert f"/library/{lesson}/download/360p" in html
    assert f"/library/{lesson}/edit" not in html  # not teacher2's
    await teacher2.get(f"/library/{lesson}")
    await fresh(db)
    assert (await db.get(Resource, lesson)).views == 2  # type: ignore[union-attr]

    owner = await as_user(api, db, world, "teacher")
    html = (await owner.get(f"/library/{lesson}")).body.decode()
    assert f"/library/{lesson}/edit" in html and f"/library/{lesson}/delete" in html
    stranger = await as_user(api, db, world, "teacher_b")
    assert (await stranger.get(f"/library/{lesson}")).status == 404


async def test_processing_and_failed_pages(api: Api, db: AsyncSession, world: World,
                                           storage: LibraryStorage) -> None:
    mine = dict(owner_id=world["teacher"], teacher_id=world["teacher"], school_id=world["a_hub"])
    processing = await add_resource(db, storage, "正在转码", state=ResourceState.processing, **mine)
    failed = await add_resource(db, storage, "坏文件", state=ResourceState.failed,
                                error="no video track in the upload", **mine)
    processing_id, failed_id = processing.id, failed.id
    owner = await as_user(api, db, world, "teacher")
    html = (await owner.get(f"/library/{processing_id}")).body.decode()
    assert 'id="processing"' in html and "/static/library/progress.js" in html
    assert "等待" in text_of(html)  # no job has started yet
    progress = await owner.get(f"resources/{processing_id}/progress")
    assert progress.status == 200 and progress.body["state"] == "processing"
    html = (await owner.get(f"/library/{failed_id}")).body.decode()
    assert "no video track in the upload" in html and "player.js" not in html
    # Others do not see them, not even in the catalogue.
    other = await as_user(api, db, world, "teacher2")
    assert (await other.get(f"/library/{processing_id}")).status == 404
    assert "正在转码" not in (await other.get("/library")).body.decode()
    assert "正在转码" in (await owner.get("/library")).body.decode()


# Media files ------------------------------------------------------------------------------------


async def test_files_types_caching_and_ranges(api: Api, db: AsyncSession, world: World,
                                              lesson: int, storage: LibraryStorage) -> None:
    viewer = await as_user(api, db, world, "observer")
    base = f"/library/{lesson}/files"
    master = await viewer.get(f"{base}/master.m3u8")
    assert master.status == 200
    assert master.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")
    assert master.headers["Cache-Control"] == "private, no-cache"
    assert b"360p/index.m3u8" in master.body
    vtt = await viewer.get(f"{base}/thumbnails.vtt")
    assert vtt.headers["Content-Type"].startswith("text/vtt") and b"#xywh=" in vtt.body
    poster = await viewer.get(f"{base}/poster.jpg")
    assert poster.headers["Content-Type"] == "image/jpeg" and poster.body[:2] == b"\xff\xd8"

    segment = storage.resource_dir(lesson) / "360p" / "segment00001.ts"
    whole = segment.read_bytes()
    full = await viewer.get(f"{base}/360p/segment00001.ts")
    assert full.status == 200 and full.body == whole
    assert full.headers["Content-Type"] == "video/mp2t"
    assert full.headers["Cache-Control"] == "private, max-age=86400"
    part = await viewer.call("GET", f"{base}/360p/segment00001.ts",
                             headers={"Range": "bytes=188-375"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 188-375/{len(whole)}"
    assert part.body == whole[188:376]
    etag = full.headers["ETag"]
    again = await viewer.call("GET", f"{base}/360p/segment00001.ts",
                              headers={"If-None-Match": etag})
    assert again.status == 304


@pytest.mark.parametrize("path", [
    "..%2F..%2Fkelian.db", "%2E%2E/%2E%2E/kelian.db", "720p/..%2F..%2F..%2Ft.db",
    "..%2F1%2Fmaster.m3u8", "%2Fetc%2Fpasswd", "720p/.hidden.ts", "nothing.m3u8",
    "720p", "720p/index.m3u8%00.ts",
])
async def test_traversal_and_strays_are_refused(api: Api, db: AsyncSession, world: World,
                                                lesson: int, storage: LibraryStorage,
                                                path: str) -> None:
    (storage.resource_dir(lesson) / "720p" / ".hidden.ts").write_bytes(b"x")
    owner = await as_user(api, db, world, "teacher")
    reply = await owner.get(f"/library/{lesson}/files/{path}")
    assert reply.status == 404, path


async def test_files_follow_visibility(api: Api, db: AsyncSession, world: World,
                                       lesson: int) -> None:
    url = f"/library/{lesson}/files/master.m3u8"
    stranger = await as_user(api, db, world, "teacher_b")
    assert (await stranger.get(url)).status == 404
    async with api.client.get(url, allow_redirects=False) as anonymous:
        assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")
    terminal = await api.as_(world.tokens["terminal"]).get(url)
    assert terminal.status == 403
    admin = await as_user(api, db, world, "admin")
    await admin.patch(f"resources/{lesson}", {"visibility": "everyone"})
    assert (await stranger.get(url)).status == 200


async def test_download_joins_the_segments(api: Api, db: AsyncSession, world: World,
                                           lesson: int, storage: LibraryStorage) -> None:
    viewer = await as_user(api, db, world, "observer")
    reply = await viewer.get(f"/library/{lesson}/download/360p")
    assert reply.status == 200
    segments = sorted((storage.resource_dir(lesson) / "360p").glob("segment*.ts"))
    expected = b"".join(p.read_bytes() for p in segments)
    assert reply.body == expected and reply.headers["Content-Length"] == str(len(expected))
    assert reply.headers["Content-Type"] == "video/mp2t"
    disposition = reply.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="resource-{lesson}-360p.ts"')
    assert f"filename*=UTF-8''{quote(TITLE + '-360p.ts', safe='')}" in disposition
    import av  # the joined file is one playable transport stream

    path = storage.root / "joined.ts"
    path.write_bytes(reply.body)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    path.unlink()
    assert frames >= 6 * 25 - 2
    assert (await viewer.get(f"/library/{lesson}/download/4k")).status == 404


# Upload -------------------------------------------------------------------------------------------


def upload_form(fields: dict[str, str], video: bytes | None, name: str = "课.mp4") -> FormData:
    form = FormData(default_to_multipart=True)  # as a browser sends a form with a file input
    for key, value in fields.items():
        form.add_field(key, value)
    if video is not None:
        form.add_field("file", video, filename=name, content_type="video/mp4")
    return form


async def post_upload(client: TestClient, session: Api, form: FormData):  # type: ignore[no-untyped-def]
    headers = dict(session.headers)
    headers["Accept"] = "application/json"
    async with client.post("/library/upload", data=form, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_upload_creates_a_processing_resource(app_client: TestClient, api: Api,
                                                    db: AsyncSession, world: World,
                                                    storage: LibraryStorage,
                                                    hls: HlsFiles) -> None:
    teacher = await as_user(api, db, world, "teacher")
    page = await teacher.get("/library/upload")
    assert page.status == 200 and "/static/library/upload.js" in page.body.decode()
    video = (hls.directory.parent / "lesson.mkv").read_bytes()
    status, body = await post_upload(app_client, teacher, upload_form({
        "title": "上传的课", "subject": "音乐", "tags": "节奏，示范课 节奏", "visibility": "county",
        "lesson_kind": "dedicated", "taught_on": "2026-11-20", "description": "",
    }, video, "课堂.mkv"))
    assert status == 201, body
    resource_id = body["id"]
    assert body["url"] == f"/library/{resource_id}?notice=uploaded"
    await fresh(db)
    resource = await db.get(Resource, resource_id)
    assert resource is not None
    assert (resource.state, resource.tags, resource.owner_id, resource.teacher_id,
            resource.school_id, resource.county, resource.visibility) == (
        ResourceState.processing, ["节奏", "示范课"], world["teacher"], world["teacher"],
        world["a_hub"], "清城区", Visibility.county)
    assert resource.directory == f"resources/{resource_id}"
    assert storage.path(resource.source_file or "").read_bytes() == video
    job = await db.scalar(select(Job).where(Job.subject_id == str(resource_id)))
    assert job is not None and job.kind == "transcode" and job.state is JobState.queued
    assert job.payload == {"resource_id": resource_id}
    assert [p.name for p in storage.upload_dir().iterdir()] == [Path(resource.source_file).name]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_upload_is_transcoded_and_played(aiohttp_client, api: Api,  # type: ignore[no-untyped-def]
                                               db: AsyncSession, world: World,
                                               settings: Settings, hls: HlsFiles) -> None:
    """With the server's own job runner, an upload becomes a ready Resource whose master playlist,
    renditions and stills are served."""
    from server.app import create_app
    from tests.helpers import eventually

    client = await aiohttp_client(create_app(settings))
    teacher = await as_user(api, db, world, "teacher")
    teacher.client = client
    status, body = await post_upload(client, teacher, upload_form(
        {"title": "自动转码", "visibility": "school"},
        (hls.directory.parent / "lesson.mkv").read_bytes(), "lesson.mkv"))
    assert status == 201, body

    async def ready() -> dict | None:  # type: ignore[type-arg]
        found = await teacher.get(f"resources/{body['id']}")
        return found.body if found.body["state"] != "processing" else None

    resource = await eventually(ready, timeout=120, interval=0.5)
    assert resource["state"] == "ready", resource["error"]
    assert {r["name"] for r in resource["renditions"]} == {"720p", "360p"}
    master = await teacher.get(resource["master_url"])
    assert master.status == 200 and b"#EXT-X-STREAM-INF" in master.body
    for url in (resource["poster_url"], resource["thumbnails_url"],
                resource["renditions"][-1]["playlist_url"]):
        assert (await teacher.get(url)).status == 200, url
    page = await teacher.get(f"/library/{body['id']}")
    assert "player.js" in page.body.decode()


async def test_upload_refusals_leave_nothing(aiohttp_client, api: Api,  # type: ignore[no-untyped-def]
                                             db: AsyncSession, world: World,
                                             storage: LibraryStorage, settings: Settings) -> None:
    from server.app import create_app

    app_client = await aiohttp_client(create_app(dataclasses.replace(settings, max_upload_mb=1)))
    teacher = await as_user(api, db, world, "teacher")
    good = {"title": "太大了", "visibility": "school"}

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(3):  # 3 MiB without a Content-Length (chunked): cut off on the way in
            yield b"\0" * 2**20

    form = upload_form(good, None)
    form.add_field("file", chunks(), filename="big.mp4", content_type="video/mp4")
    status, body = await post_upload(app_client, teacher, form)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert "1 MiB" in body["error"]["message"]
    # Announced too large: refused before reading.
    status, body = await post_upload(app_client, teacher, upload_form(good, b"\0" * (3 << 20)))
    assert status == 413
    # Invalid metadata: refused before the file is stored.
    status, body = await post_upload(app_client, teacher, upload_form(
        {"title": "", "visibility": "school", "taught_on": "someday"}, b"video"))
    assert status == 422
    assert {d["field"] for d in body["error"]["details"]} == {"title", "taught_on"}
    status, body = await post_upload(app_client, teacher, upload_form(good, b"x", "notes.pdf"))
    assert status == 422 and body["error"]["details"][0]["field"] == "file"
    status, body = await post_upload(app_client, teacher, upload_form(good, None))
    assert status == 422 and body["error"]["details"][0]["field"] == "file"
    status, body = await post_upload(app_client, teacher, upload_form(good, b"", ""))
    assert status == 422 and body["error"]["details"][0]["field"] == "file"
    # Observers do not upload.
    observer = await as_user(api, db, world, "observer")
    status, body = await post_upload(app_client, observer, upload_form(good, b"video"))
    assert status == 403
    # A plain form post (no script, no CSRF header) is told what is needed.
    headers = {k: v for k, v in teacher.headers.items() if k != CSRF_HEADER}
    form = upload_form({**good, "_csrf": "csrf-for-tests"}, b"video")
    async with app_client.post("/library/upload", data=form, headers=headers) as resp:
        assert resp.status == 400
    await fresh(db)
    assert await db.scalar(select(func.count()).select_from(Resource)) == 0
    assert files_of(storage) == set()


# Edit and delete ----------------------------------------------------------------------------------


async def post_form(session: Api, path: str, data: str) -> tuple[int, str]:
    """POST a urlencoded form as the session; the status and Location, redirects not followed."""
    headers = session.headers | {"Content-Type": "application/x-www-form-urlencoded"}
    async with session.client.post(path, data=data, headers=headers,
                                   allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "")


async def test_edit_and_delete_pages(api: Api, db: AsyncSession, world: World, lesson: int,
                                     storage: LibraryStorage) -> None:
    colleague = await as_user(api, db, world, "teacher2")
    assert (await colleague.get(f"/library/{lesson}/edit")).status == 403
    assert (await post_form(colleague, f"/library/{lesson}/delete", ""))[0] == 403
    assert any(f.startswith(f"resources/{lesson}/") for f in files_of(storage))

    owner = await as_user(api, db, world, "teacher")
    page = await owner.get(f"/library/{lesson}/edit")
    assert page.status == 200 and "节奏 示范课" in page.body.decode()
    assert (await post_form(owner, f"/library/{lesson}/edit", "title=&visibility=school"))[0] \
        == 422
    saved = await post_form(owner, f"/library/{lesson}/edit", (
        "title=%E6%96%B0%E6%A0%87%E9%A2%98&visibility=everyone&tags=a+b&subject=&grade="
        "&description=&lesson_kind=&taught_on="))
    assert saved == (303, f"/library/{lesson}?notice=saved")
    await fresh(db)
    resource = await db.get(Resource, lesson)
    assert resource is not None
    assert (resource.title, resource.tags, resource.subject, resource.taught_on,
            resource.visibility) == ("新标题", ["a", "b"], "", None, Visibility.everyone)

    assert (await owner.get(f"/library/{lesson}/delete")).status == 200
    done = await post_form(owner, f"/library/{lesson}/delete", "")
    assert done == (303, "/library?notice=resource_deleted")
    await fresh(db)
    assert await db.get(Resource, lesson) is None
    assert files_of(storage) == set()
    assert (await owner.get(f"/library/{lesson}")).status == 404


async def test_storage_page(api: Api, db: AsyncSession, world: World, lesson: int) -> None:
    admin = await as_user(api, db, world, "admin")
    page = await admin.get("/library/storage")
    assert page.status == 200 and "<meter" in page.body.decode()
    teacher = await as_user(api, db, world, "teacher")
    assert (await teacher.get("/library/storage")).status == 403


async def test_hls_js_is_served_from_node_modules(api: Api, db: AsyncSession,
                                                  world: World) -> None:
    from server.pages.library_files import HLS_JS

    if not HLS_JS.is_file():
        pytest.skip("node_modules is not installed (npm ci)")
    reply = await api.call("GET", "/static/vendor/hls.mjs")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/javascript")
    assert b"export" in reply.body


# The API --------------------------------------------------------------------------------------------


async def test_api_list_get_patch_delete(api: Api, world: World, lesson: int,
                                         storage: LibraryStorage) -> None:
    observer = api.as_(world.tokens["observer"])
    page = await observer.get("resources", q="雨沙", tag="节奏", school_id=str(world["a_hub"]))
    assert page.status == 200 and page.body["total"] == 1
    item = page.body["items"][0]
    assert item["title"] == TITLE and item["teacher_name"] == "Teacher"
    assert item["school_name"] == "A Hub" and item["master_url"].endswith("/master.m3u8")
    assert [r["name"] for r in item["renditions"]] == ["720p", "360p"]
    assert item["renditions"][1]["download_url"] == f"/library/{lesson}/download/360p"
    assert (await observer.get("resources", q="没有这个")).body["total"] == 0
    bad = await observer.get("resources", school_id="x")
    assert bad.status == 422 and bad.code == "invalid"
    assert (await observer.get("resources", color="red")).status == 422
    assert (await observer.get(f"resources/{lesson}")).body["id"] == lesson
    assert (await observer.patch(f"resources/{lesson}", {"title": "x"})).status == 403
    assert (await observer.delete(f"resources/{lesson}")).status == 403

    owner = api.as_(world.tokens["teacher"])
    changed = await owner.patch(f"resources/{lesson}", {"title": "改过", "tags": ["一", "二"]})
    assert changed.status == 200 and (changed.body["title"], changed.body["tags"]) == \
        ("改过", ["一", "二"])
    assert (await owner.patch(f"resources/{lesson}", {"views": 9})).status == 422
    assert (await owner.patch(f"resources/{lesson}", {"title": None})).status == 422
    outsider = api.as_(world.tokens["teacher_b"])
    assert (await outsider.get(f"resources/{lesson}")).status == 404
    assert (await outsider.delete(f"resources/{lesson}")).status == 404
    assert (await owner.delete(f"resources/{lesson}")).status == 204
    assert (await owner.get(f"resources/{lesson}")).status == 404
    assert not storage.resource_dir(lesson).exists()


async def test_low_disk_warns_admins(api: Api, db: AsyncSession, world: World, lesson: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    total = 100 * 2**30
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(total, total - 5 * 2**30, 5 * 2**30))
    admin = await as_user(api, db, world, "admin")
    catalogue_page = text_of((await admin.get("/library")).body.decode())
    assert "资源库磁盘即将用满：共 100.0 GB，仅剩 5.0 GB。" in catalogue_page
    storage_page = text_of((await admin.get("/library/storage")).body.decode())
    assert "仅剩 5% 可用" in storage_page
    teacher = await as_user(api, db, world, "teacher")
    assert "即将用满" not in text_of((await teacher.get("/library")).body.decode())
