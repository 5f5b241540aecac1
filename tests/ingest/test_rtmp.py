"""RTMP encoders with real peers: Debian's ffmpeg pushes H.264 and AAC to the node's RTMP port;
a teaching point receives it over /ws like any publication. ffmpeg also writes the H.264 it
sends to a file (its tee muxer), so the test can check that what the point decodes is the
encoder's own pictures, bit for bit: forwarded, never re-encoded.

Skipped without ffmpeg unless KELIAN_TEST_REQUIRE_FFMPEG=1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.ingest.rtmp import RTMP, RTMP_POLICY, RtmpPolicy
from server.keys import LIVE
from server.models import Source, SourceKind, SourceRole
from server.signalling.limits import LIMITS, Limits
from tests.conftest import skip_or_fail
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import join
from tests.pages.demo_server import free_port

from .conftest import end_lesson, next_frame, picture_digest

pytestmark = pytest.mark.slow  # real encoders, peers and decoders for seconds

FFMPEG = shutil.which("ffmpeg")
KEY = "rk-hub-encoder-1"


@pytest.fixture
def ffmpeg() -> str:
    if FFMPEG is None:
        skip_or_fail("Debian's ffmpeg is not installed (apt-get install ffmpeg)",
                     "KELIAN_TEST_REQUIRE_FFMPEG")
    assert FFMPEG is not None
    return FFMPEG


@pytest.fixture
def rtmp_port() -> int:
    return free_port()


@pytest.fixture
async def live_app(aiohttp_client, settings: Settings, limits: Limits,  # type: ignore[no-untyped-def]
                   rtmp_port: int) -> TestClient:
    """The live app listening for RTMP, with a short grace and quick retries."""
    from server.app import create_app

    app: web.Application = create_app(dataclasses.replace(settings, rtmp_port=rtmp_port))
    app[LIMITS] = limits
    app[RTMP_POLICY] = RtmpPolicy(grace_s=8.0, retry_s=0.5)
    return await aiohttp_client(app)


class Encoder:
    """ffmpeg pushing a test picture and tone; the H.264 it sends is also kept in a file."""

    def __init__(self, ffmpeg: str, port: int, key: str, copy: Path | None = None,
                 seconds: int = 40):
        self.ffmpeg, self.port, self.key, self.copy, self.seconds = ffmpeg, port, key, copy, seconds
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        url = f"rtmp://127.0.0.1:{self.port}/live/{self.key}"
        copy = f"|[f=h264:select=v:flush_packets=1]{self.copy}" if self.copy else ""
        self.proc = await asyncio.create_subprocess_exec(
            self.ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", str(self.seconds), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
            "-c:a", "aac", "-b:a", "64k", "-f", "tee", f"[f=flv]{url}{copy}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

    async def finished(self, timeout: float = 20) -> tuple[int, str]:
        assert self.proc is not None
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        return self.proc.returncode or 0, err.decode(errors="replace")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def encoders(ffmpeg: str, rtmp_port: int) -> AsyncIterator[list[Encoder]]:
    started: list[Encoder] = []
    yield started
    for encoder in started:
        await encoder.kill()


async def _push(encoders: list[Encoder], ffmpeg: str, port: int, key: str = KEY,
                copy: Path | None = None) -> Encoder:
    encoder = Encoder(ffmpeg, port, key, copy)
    encoders.append(encoder)
    await encoder.start()
    return encoder


async def _rtmp_source(db: AsyncSession, world: World, key: str = KEY,
                       enabled: bool = True, name: str = "Hub encoder") -> int:
    source = Source(classroom_id=world["hub"], name=name, kind=SourceKind.rtmp,
                    role=SourceRole.teacher, stream_key=key, enabled=enabled)
    db.add(source)
    await db.commit()
    return source.id


def _pictures_in(path: Path) -> set[bytes]:
    with av.open(str(path), format="h264") as container:
        return {picture_digest(f) for f in container.decode(video=0)}  # type: ignore[arg-type]


async def _pictures(media: MediaClient, count: int) -> list[av.VideoFrame]:
    frames = [await next_frame(media, "video") for _ in range(count)]
    assert all(isinstance(f, av.VideoFrame) for f in frames)
    return frames  # type: ignore[return-value]


@SQLITE_ONLY
async def test_an_encoder_pushing_before_the_lesson_is_forwarded_and_survives_a_drop(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        encoders: list[Encoder], ffmpeg: str, rtmp_port: int, tmp_path: Path) -> None:
    source_id = await _rtmp_source(db, world)
    listener = live_app.app[RTMP]
    copy = tmp_path / "sent.h264"
    await _push(encoders, ffmpeg, rtmp_port, copy=copy)
    # Switched on before the lesson: connected, waiting, in no Room.
    await eventually(lambda: source_id in listener.feeds and listener.feeds[source_id].connected,
                     timeout=15)

    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa = MediaClient(pa_ws)
    try:
        # The encoder is in the Room as the hub classroom, publishing camera and microphone.
        encoder = await eventually(lambda: next(
            (p for p in room.participants.values() if p.identity == f"source:{source_id}"),
            None), timeout=15)
        assert encoder.name == "Hub encoder" and encoder.role.value == "host_classroom"
        await eventually(lambda: len(room.publications) == 2, timeout=10)
        assert {p.codec.lower() for p in room.media.publications()} == {"video/h264",
                                                                        "audio/opus"}
        await eventually(lambda: pa.active_kinds() == ["audio", "video"], timeout=15)
        received = await eventually(lambda: _pictures(pa, 10), timeout=20)
        assert {(f.width, f.height) for f in received} == {(320, 180)}
        assert isinstance(await next_frame(pa, "audio"), av.AudioFrame)
        await asyncio.sleep(1)
        received = await _pictures(pa, 25)  # live pictures now, not the first backlog

        # The encoder drops (killed): receivers are told; its publication stays.
        await encoders[0].kill()
        await teacher_ws.event("notice", code="source_reconnecting", timeout=15)
        await pa_ws.event("notice", code="source_reconnecting")
        assert len(room.publications) == 2 and not pa_ws.events("publication.removed")
        # Bit for bit the encoder's pictures: the relay and the publisher encoded nothing.
        sent = _pictures_in(copy)
        same = sum(picture_digest(f) in sent for f in received) / len(received)
        assert same > 0.9, (same, len(sent))
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0

        # It comes back within the grace: video resumes with no renegotiation.
        offers = pa.offers_answered
        await _push(encoders, ffmpeg, rtmp_port)
        await teacher_ws.event("notice", code="source_restored", timeout=15)
        assert await eventually(lambda: _pictures(pa, 10), timeout=20)
        assert pa.offers_answered == offers and not pa_ws.events("publication.removed")

        # The lesson ends; the encoder stays connected for the next one.
        await end_lesson(live_app, world, lesson_id)
        await asyncio.sleep(1)
        assert listener.feeds[source_id].connected
        assert listener.feeds[source_id].participant is None
    finally:
        await pa.close()
        await teacher_ws.close()
        await pa_ws.close()


@SQLITE_ONLY
async def test_wrong_disabled_and_reused_keys_are_refused(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        encoders: list[Encoder], ffmpeg: str, rtmp_port: int) -> None:
    listener = live_app.app[RTMP]
    await _rtmp_source(db, world, key="rk-off", enabled=False, name="Old encoder")
    source_id = await _rtmp_source(db, world)
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None

    for key in ("rk-wrong", "rk-off"):
        code, log = await (await _push(encoders, ffmpeg, rtmp_port, key=key)).finished()
        assert code != 0, log
    assert not listener.feeds and not room.participants

    first = await _push(encoders, ffmpeg, rtmp_port)
    await eventually(lambda: any(p.identity == f"source:{source_id}"
                                 for p in room.participants.values()), timeout=15)
    code, log = await (await _push(encoders, ffmpeg, rtmp_port)).finished()
    assert code != 0, log  # the key is in use: the second encoder is refused
    assert first.proc is not None and first.proc.returncode is None  # the first goes on
    assert listener.feeds[source_id].connected


async def test_garbage_on_the_rtmp_port_costs_one_connection(
        live_app: TestClient, rtmp_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", rtmp_port)
    writer.write(b"\x16\x03\x01" + bytes(3000))  # a TLS hello, say
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 15) == b""  # closed on us
    writer.close()
    async with live_app.get("/login") as resp:  # the node serves on
        assert resp.status == 200


@SQLITE_ONLY
async def test_with_several_nodes_a_connected_encoder_draws_its_classrooms_lessons_here(
        aiohttp_client, settings: Settings, world: World, db: AsyncSession,  # type: ignore[no-untyped-def]
        redis_url: str, ffmpeg: str, encoders: list[Encoder]) -> None:
    """With Redis, an RTMP encoder connected to this node notes its classroom there (the
    classroom's next lesson is placed on this node, tests/cluster/test_ingest_nodes.py shows
    the placement for WHIP); the note goes when the encoder has gone for good."""
    import secrets

    from redis.asyncio import Redis

    from server.app import create_app
    from server.keys import NODE
    from tests.cluster.nodes import forget_prefix

    prefix = f"kelian-test-{secrets.token_hex(6)}:"
    rtmp_port = free_port()  # the module's app (the world's) listens on the fixture's
    app = create_app(dataclasses.replace(settings, rtmp_port=rtmp_port, redis_url=redis_url,
                                         redis_prefix=prefix))
    app[RTMP_POLICY] = RtmpPolicy(grace_s=1.0, retry_s=0.5)
    client = await aiohttp_client(app)
    redis = Redis.from_url(redis_url)
    key = f"{prefix}waiting:{world['hub']}"
    try:
        await _rtmp_source(db, world)
        encoder = await _push(encoders, ffmpeg, rtmp_port)
        assert await eventually(lambda: redis.get(key), timeout=15) == client.app[NODE].encode()
        await encoder.kill()  # gone: after the grace, its classroom is no longer drawn here
        assert await eventually(lambda: _missing(redis, key), timeout=15)
    finally:
        await redis.aclose()
        forget_prefix(redis_url, prefix)


async def _missing(redis: object, key: str) -> bool:
    return await redis.get(key) is None  # type: ignore[attr-defined]
