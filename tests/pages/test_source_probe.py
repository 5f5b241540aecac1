"""The admin page's "Test" on a Source: a snapshot and the facts found, in Chinese by default;
for admins only. The media side is tested in tests/ingest/test_probe.py."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.auth.secrets import new_stream_key
from server.config import Settings
from server.ingest.rtmp import RTMP
from server.keys import SESSIONS
from server.models import Classroom, Source, SourceKind, SourceRole
from tests.helpers import eventually
from tests.ingest.camera import Camera, free_port
from tests.ingest.conftest import camera  # noqa: F401 (fixture)
from tests.ingest.test_probe import jpeg_size
from tests.ingest.test_rtmp import Encoder, encoders, ffmpeg  # noqa: F401 (fixtures)

from .conftest import SQLITE_ONLY, post_form, sign_in, text_of

pytestmark = [SQLITE_ONLY, pytest.mark.slow]  # real cameras and encoders for seconds


@pytest.fixture
def rtmp_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, rtmp_port: int) -> Settings:
    """The demo, with the node listening for RTMP encoders."""
    return dataclasses.replace(settings, rtmp_port=rtmp_port)


async def add_source(client: TestClient, kind: SourceKind, url: str | None = None,
                     name: str = "测试机位") -> Source:
    async with client.app[SESSIONS]() as db:
        room = (await db.scalars(select(Classroom).where(Classroom.name == "录播教室"))).one()
        source = Source(classroom_id=room.id, name=name, kind=kind, role=SourceRole.teacher,
                        url=url, stream_key=None if kind is SourceKind.rtsp else new_stream_key())
        db.add(source)
        await db.commit()
        return source


def snapshot_of(html: str) -> bytes | None:
    found = re.search(r'<img class="snapshot" src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"',
                      html)
    return base64.b64decode(found.group(1)) if found else None


async def test_an_admin_tests_an_rtsp_camera(app_client: TestClient,
                                             camera: Camera) -> None:  # noqa: F811
    source = await add_source(app_client, SourceKind.rtsp, camera.url("h264"))
    await sign_in(app_client, "admin")
    listing = await (await app_client.get("/admin/sources")).text()
    assert f'action="/admin/sources/{source.id}/test"' in listing and "测试" in text_of(listing)

    response = await post_form(app_client, f"/admin/sources/{source.id}/test", {})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = await response.text()
    snapshot = snapshot_of(html)
    assert snapshot is not None and jpeg_size(snapshot) == (640, 360)
    page = text_of(html)
    assert "测试“测试机位”" in page
    for fact in ("编码 H.264", "分辨率 640 × 360", "帧/秒", "kbit/s", "音频 G.711 A-law"):
        assert fact in page, fact
    assert re.search(r"帧率 2[3-7]\.\d 帧/秒", page), page

    await app_client.get("/lang/en")  # English on request
    english = text_of(await (await post_form(
        app_client, f"/admin/sources/{source.id}/test", {})).text())
    assert "Codec H.264" in english and "Resolution 640 × 360" in english


async def test_a_camera_that_does_not_answer_says_why_without_its_url(
        app_client: TestClient) -> None:
    source = await add_source(app_client, SourceKind.rtsp,
                              f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/stream1")
    await sign_in(app_client, "admin")
    response = await post_form(app_client, f"/admin/sources/{source.id}/test", {})
    assert response.status == 200
    html = await response.text()
    assert "摄像机没有响应：Connection refused" in text_of(html)
    assert "s3cret" not in html and snapshot_of(html) is None


async def test_an_rtmp_encoder_not_connected_then_pushing(
        app_client: TestClient, rtmp_port: int, encoders: list[Encoder],  # noqa: F811
        ffmpeg: str) -> None:  # noqa: F811
    source = await add_source(app_client, SourceKind.rtmp, name="录播主机")
    await sign_in(app_client, "admin")
    page = text_of(await (await post_form(
        app_client, f"/admin/sources/{source.id}/test", {})).text())
    assert "编码器未连接" in page
    assert f"rtmp://127.0.0.1:{rtmp_port}/live/{source.stream_key}" in page

    assert source.stream_key is not None
    encoder = Encoder(ffmpeg, rtmp_port, source.stream_key)
    encoders.append(encoder)
    await encoder.start()
    listener = app_client.app[RTMP]
    await eventually(lambda: source.id in listener.feeds and listener.feeds[source.id].connected,
                     timeout=15)
    html = await (await post_form(app_client, f"/admin/sources/{source.id}/test", {})).text()
    snapshot = snapshot_of(html)
    assert snapshot is not None and jpeg_size(snapshot) == (320, 180)
    page = text_of(html)
    assert "编码器已连接" in page and "分辨率 320 × 180" in page and "音频 AAC" in page


async def test_a_whip_source_says_whether_an_encoder_publishes(app_client: TestClient) -> None:
    source = await add_source(app_client, SourceKind.whip, name="OBS")
    await sign_in(app_client, "admin")
    page = text_of(await (await post_form(
        app_client, f"/admin/sources/{source.id}/test", {})).text())
    assert "此信号源目前没有 WHIP 编码器在推流" in page
    assert f"/whip/{source.stream_key}" in page


async def test_only_admins_test_sources(app_client: TestClient) -> None:
    source = await add_source(app_client, SourceKind.whip, name="OBS")
    for username in ("teacher", "inspector"):
        await sign_in(app_client, username)
        listing = await (await app_client.get("/admin/sources")).text()
        assert "/test" not in listing
        response = await post_form(app_client, f"/admin/sources/{source.id}/test", {})
        assert response.status in (403, 404), username
        assert str(source.stream_key) not in await response.text()
