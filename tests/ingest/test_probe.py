"""Testing a Source, media side (server/ingest/probe.py): the test IP camera (GStreamer's RTSP
server, tests/ingest/camera.py) is opened and measured; Debian's ffmpeg pushes RTMP and its
feed is measured. The admin page on top is tested in tests/pages/test_source_probe.py.

Skipped without GStreamer's RTSP server or ffmpeg (see tests/ingest/camera.py, test_rtmp.py).
"""

from __future__ import annotations

import asyncio
import io

import av
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.ingest.probe import ProbeError, jpeg, probe_feed, probe_rtsp
from server.ingest.rtmp import RTMP
from server.ingest.standby import STANDBY
from server.models import Source, SourceKind, SourceRole
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.world import World

from .camera import Camera, free_port, require_gstreamer
from .conftest import SourceMaker, post_sdp, whip_offer
from .test_rtmp import Encoder, encoders, ffmpeg, live_app, rtmp_port  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # real cameras and encoders for seconds


@pytest.fixture(scope="session")
def gstreamer() -> None:
    require_gstreamer()


def jpeg_size(data: bytes) -> tuple[int, int]:
    """The size of a JPEG, decoded with PyAV (it is a real picture, not just bytes)."""
    assert data[:2] == b"\xff\xd8"
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


async def test_an_rtsp_camera_shows_its_codec_size_rate_and_a_snapshot(camera: Camera) -> None:
    probe = await probe_rtsp(camera.url("h264"))
    assert probe.video == "h264" and (probe.width, probe.height) == (640, 360)
    assert probe.fps is not None and 23 <= probe.fps <= 27, probe.fps
    assert probe.kbps is not None and probe.kbps > 0
    assert probe.audio == "pcm_alaw"
    assert probe.snapshot is not None and jpeg_size(probe.snapshot) == (640, 360)


async def test_an_mjpeg_camera_without_audio(camera: Camera) -> None:
    probe = await probe_rtsp(camera.url("mjpeg"), seconds=2.0)
    assert probe.video == "mjpeg" and (probe.width, probe.height) == (320, 240)
    assert probe.fps is not None and 13 <= probe.fps <= 17, probe.fps
    assert probe.audio is None
    assert probe.snapshot is not None and jpeg_size(probe.snapshot) == (320, 240)


def test_a_big_picture_is_scaled_down_to_640_wide() -> None:
    frame = av.VideoFrame(1920, 1080, "yuv420p")
    assert jpeg_size(jpeg(frame)) == (640, 360)
    assert jpeg_size(jpeg(av.VideoFrame(320, 180, "yuv420p"))) == (320, 180)


async def test_a_camera_that_does_not_answer_is_a_probe_error_without_its_url() -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/stream1"
    with pytest.raises(ProbeError) as info:
        await probe_rtsp(url)
    message = str(info.value)
    assert "refused" in message.lower(), message
    assert "s3cret" not in message and "127.0.0.1" not in message and "rtsp" not in message


async def test_an_address_that_is_not_rtsp_is_refused_before_opening() -> None:
    with pytest.raises(ProbeError) as info:
        await probe_rtsp("http://user:s3cret@127.0.0.1/cam")
    assert "s3cret" not in str(info.value)


@SQLITE_ONLY
async def test_an_rtmp_encoder_shows_its_codec_size_rate_and_a_snapshot(
        live_app: TestClient, world: World, db: AsyncSession,  # noqa: F811
        encoders: list[Encoder], ffmpeg: str, rtmp_port: int) -> None:  # noqa: F811
    source = Source(classroom_id=world["hub"], name="Hub encoder", kind=SourceKind.rtmp,
                    role=SourceRole.teacher, stream_key="rk-probe-1")
    db.add(source)
    await db.commit()
    encoder = Encoder(ffmpeg, rtmp_port, "rk-probe-1")
    encoders.append(encoder)
    await encoder.start()
    listener = live_app.app[RTMP]
    feed = await eventually(lambda: listener.feeds.get(source.id) if source.id in listener.feeds
                            and listener.feeds[source.id].connected else None, timeout=15)
    await asyncio.sleep(2)  # a couple of seconds to measure over
    probe = await probe_feed(feed)
    assert probe.video == "h264" and (probe.width, probe.height) == (320, 180)
    assert probe.fps is not None and 23 <= probe.fps <= 27, probe.fps
    assert probe.kbps is not None and probe.kbps > 0
    assert probe.audio == "aac"
    assert probe.snapshot is not None and jpeg_size(probe.snapshot) == (320, 180)

    await encoder.kill()  # gone: nothing to probe
    await eventually(lambda: not feed.connected, timeout=10)
    with pytest.raises(ProbeError, match="not connected"):
        await probe_feed(feed, wait_s=0.5)


async def test_the_test_page_says_whether_a_whip_encoder_publishes(
        live_app: TestClient, world: World, start: Starter,  # noqa: F811
        make_source: SourceMaker) -> None:
    """(A page, but it needs a live lesson and a WHIP encoder: the tests/live world has them.)"""
    encoder = await make_source("hub", name="Hub camera")
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}

    async def state() -> str:
        async with live_app.post(f"/admin/sources/{encoder.source_id}/test",
                                 headers=admin) as resp:
            assert resp.status == 200
            return await resp.text()

    assert "目前没有 WHIP 编码器在推流" in await state()
    pc = await whip_offer()
    try:
        status, _, answer = await post_sdp(live_app, f"/whip/{encoder.key}", pc, encoder.key)
        assert status == 201, answer
        page = await state()  # no lesson yet: it waits
        assert "此信号源的 WHIP 编码器已连接，正在等待本教室的课程开始" in page
        await start("dedicated")
        await eventually(lambda: not live_app.app[STANDBY].waiting(f"source:{encoder.source_id}"))
        page = await state()
        assert "此信号源的 WHIP 编码器正在推流到" in page and f"/whip/{encoder.key}" in page
    finally:
        await pc.close()
