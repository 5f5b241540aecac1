"""RTSP cameras with real peers: GStreamer's RTSP server on loopback is the IP camera
(tests/ingest/rtsp_server.py, run by Debian's /usr/bin/python3), Kelian pulls it into a live
lesson, and a teaching point receives it over /ws like any publication.

Needs the Debian packages in tests/ingest/camera.py (PACKAGES); skipped without them unless
KELIAN_TEST_REQUIRE_RTSP=1.
"""

from __future__ import annotations

import asyncio
import threading
import time

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from media.ingest.rtsp import RtspTiming
from server.config import Settings
from server.ingest.rtsp import RTSP, RTSP_POLICY, PullPolicy
from server.keys import LIVE
from server.models import Source, SourceKind, SourceRole
from server.signalling.limits import LIMITS, Limits
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import SignalClient, join

from .camera import Camera, free_port, require_gstreamer
from .conftest import end_lesson, next_frame, picture_digest

pytestmark = pytest.mark.slow  # real cameras, peers and decoders for seconds

QUICK = PullPolicy(camera=RtspTiming(open_s=3.0, read_s=2.0), backoff_s=0.5, backoff_max_s=2.0,
                   poll_s=1.0)


@pytest.fixture(scope="session")
def gstreamer() -> None:
    require_gstreamer()


@pytest.fixture
async def live_app(aiohttp_client, settings: Settings, limits: Limits  # type: ignore[no-untyped-def]
                   ) -> TestClient:
    """The live app with quick RTSP retries (overrides tests/live's)."""
    from server.app import create_app

    app: web.Application = create_app(settings)
    app[LIMITS] = limits
    app[RTSP_POLICY] = QUICK
    return await aiohttp_client(app)


async def _rtsp_source(db: AsyncSession, world: World, url: str, classroom: str = "hub",
                       name: str = "Hub camera") -> int:
    source = Source(classroom_id=world[classroom], name=name, kind=SourceKind.rtsp,
                    role=SourceRole.teacher, url=url)
    db.add(source)
    await db.commit()
    return source.id


def _pull_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kelian-rtsp")]


async def _video_flows(media: MediaClient) -> bool:
    """Fresh 640x360 pictures decode: the camera's H.264, forwarded."""
    frames = [await next_frame(media, "video") for _ in range(5)]
    return all(isinstance(f, av.VideoFrame) and (f.width, f.height) == (640, 360)
               for f in frames)


def _camera_pictures(url: str, stop: threading.Event) -> set[bytes]:
    """The camera's pictures, pulled and decoded directly (its RTSP media is shared: every
    client gets the same bitstream), until `stop`."""
    pictures: set[bytes] = set()
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as container:
        for packet in container.demux(container.streams.video[0]):
            for frame in packet.decode():
                pictures.add(picture_digest(frame))  # type: ignore[arg-type]
            if stop.is_set():
                break
    return pictures


async def _same_pictures_as_the_camera(media: MediaClient, url: str) -> float:
    """The share of the point's pictures that are bit for bit the camera's: forwarded, never
    re-encoded (any encoder on the way would change them)."""
    stop = threading.Event()
    direct = asyncio.ensure_future(asyncio.to_thread(_camera_pictures, url, stop))
    try:
        start = time.monotonic()
        received = []
        while time.monotonic() - start < 4:
            frame = await next_frame(media, "video")  # the backlog first, then live pictures
            if time.monotonic() - start > 2:
                received.append(picture_digest(frame))  # type: ignore[arg-type]
    finally:
        await asyncio.sleep(0.5)
        stop.set()
        pictures = await direct
    return sum(picture in pictures for picture in received) / max(len(received), 1)


def _notices(ws: SignalClient, code: str) -> list[dict[str, object]]:
    return [m for m in ws.events("notice") if m["code"] == code]


@SQLITE_ONLY
async def test_an_rtsp_camera_is_forwarded_and_comes_back_by_itself_after_a_drop(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        camera: Camera) -> None:
    source_id = await _rtsp_source(db, world, camera.url())
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa = MediaClient(pa_ws)
    try:
        # The camera joins as the hub classroom's participant, publishing camera and microphone.
        joined = (await pa_ws.event("participant.joined", timeout=15))["participant"]
        assert joined["name"] == "Hub camera" and joined["role"] == "host_classroom"
        assert room.participants[joined["participant_id"]].identity == f"source:{source_id}"
        await eventually(lambda: len(pa_ws.events("publication.added")) == 2, timeout=10)
        assert {e["publication"]["source"] for e in pa_ws.events("publication.added")} \
            == {"camera", "microphone"}
        codecs = {p.codec.lower() for p in room.media.publications()}
        assert codecs == {"video/h264", "audio/opus"}

        # The point decodes the camera's own pictures; the relay decoded and encoded nothing.
        await eventually(lambda: pa.active_kinds() == ["audio", "video"], timeout=15)
        assert await eventually(lambda: _video_flows(pa), timeout=20)
        assert isinstance(await next_frame(pa, "audio"), av.AudioFrame)
        assert await _same_pictures_as_the_camera(pa, camera.url()) > 0.9
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0
        assert _pull_threads() == [f"kelian-rtsp-{source_id}"]

        # The camera drops: its receivers and the teacher are told; the publication stays.
        await camera.stop()
        await teacher_ws.event("notice", code="source_reconnecting", timeout=15)
        await pa_ws.event("notice", code="source_reconnecting")
        assert len(room.publications) == 2 and not pa_ws.events("publication.removed")
        await asyncio.sleep(1.5)  # a few failed retries with back-off

        # It comes back: the point's video resumes by itself, no renegotiation needed.
        await camera.start()
        await teacher_ws.event("notice", code="source_restored", timeout=15)
        offers = pa.offers_answered
        assert await eventually(lambda: _video_flows(pa), timeout=20)
        assert pa.offers_answered == offers and not pa_ws.events("publication.removed")
        assert not _notices(teacher_ws, "source_unreachable")  # it answered before
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0

        # The lesson ends: the pull stops, no thread is left.
        await end_lesson(live_app, world, lesson_id)
        await eventually(lambda: not _pull_threads() and not live_app.app[RTSP].pullers,
                         timeout=10)
    finally:
        await pa.close()
        await teacher_ws.close()
        await pa_ws.close()


@SQLITE_ONLY
async def test_a_camera_that_never_answers_tells_the_teacher_and_disturbs_nobody(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        gstreamer: None) -> None:
    closed = f"rtsp://127.0.0.1:{free_port()}/h264"  # nothing listens there
    await _rtsp_source(db, world, closed, name="Broken camera")
    lesson_id = await start("dedicated")
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    hub_ws, _ = await join(live_app, world.tokens["hub_tv"], lesson_id, "hub")
    hub, pa = MediaClient(hub_ws), MediaClient(pa_ws)
    try:
        notice = await teacher_ws.event("notice", code="source_unreachable", timeout=15)
        assert "Broken camera" in str(notice["message"])
        assert "Connection refused" in str(notice["message"])
        assert closed not in str(notice["message"])  # a URL may carry a password
        await asyncio.sleep(2.5)  # more retries: told once
        assert len(_notices(teacher_ws, "source_unreachable")) == 1
        assert not pa_ws.events("notice")  # only the teacher needs to know

        # The lesson goes on: the hub classroom's own camera reaches the point.
        assert (await hub.publish(["camera"]))["type"] == "ok"
        await eventually(lambda: pa.active_kinds() == ["video"], timeout=15)
        assert await eventually(lambda: _points_receive(pa), timeout=15)

        await end_lesson(live_app, world, lesson_id)
        await eventually(lambda: not _pull_threads() and not live_app.app[RTSP].pullers,
                         timeout=10)
    finally:
        await hub.close()
        await pa.close()
        for ws in (teacher_ws, pa_ws, hub_ws):
            await ws.close()


async def _points_receive(media: MediaClient) -> bool:
    counts = await media.packets()
    return bool(counts) and all(n > 0 for n in counts)


@SQLITE_ONLY
async def test_an_mjpeg_camera_is_encoded_once_and_received(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        camera: Camera) -> None:
    await _rtsp_source(db, world, camera.url("mjpeg"), name="Old camera")
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa = MediaClient(pa_ws)
    try:
        await eventually(lambda: pa.active_kinds() == ["video"], timeout=20)
        frame = await eventually(lambda: next_frame(pa, "video"), timeout=20)
        assert (frame.width, frame.height) == (320, 240)
        # Encoded once, in the puller, to H.264: the relay itself forwards it.
        assert [p.codec.lower() for p in room.media.publications()] == ["video/h264"]
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0
    finally:
        await pa.close()
        await pa_ws.close()


@SQLITE_ONLY
async def test_a_camera_the_lesson_kind_rules_refuse_is_not_pulled_again(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        camera: Camera) -> None:
    # In a famous-school broadcast only the hub publishes: a teaching point's camera stays out.
    source_id = await _rtsp_source(db, world, camera.url(), classroom="pa", name="Point camera")
    lesson_id = await start("famous")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    supervisor = live_app.app[RTSP]
    await eventually(lambda: source_id in supervisor.pullers and supervisor.pullers[source_id].done,
                     timeout=15)
    await asyncio.sleep(1.5)  # the supervisor looks again: it does not start it again
    assert supervisor.pullers[source_id].done and not _pull_threads()
    assert not any(p.identity.startswith("source:") for p in room.participants.values())
