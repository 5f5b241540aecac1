"""The RTMP server side (media/ingest/rtmp.py) against Debian's ffmpeg as the encoder, and
against garbage."""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import Awaitable, Callable

import av
import pytest

from media.ingest import amf0
from media.ingest.feed import Timeline
from media.ingest.flv import AudioConverter, VideoConverter
from media.ingest.rtmp import AAC, AVC, AudioTag, PublishRequest, RtmpError, RtmpSession, VideoTag
from tests.conftest import skip_or_fail

FFMPEG = shutil.which("ffmpeg")


@pytest.fixture
def needs_ffmpeg() -> None:
    if FFMPEG is None:
        skip_or_fail("Debian's ffmpeg is not installed (apt-get install ffmpeg)",
                     "KELIAN_TEST_REQUIRE_FFMPEG")

Handler = Callable[[RtmpSession], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int, list[BaseException]]:
    errors: list[BaseException] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = RtmpSession(reader, writer)
        try:
            await handler(session)
        except BaseException as exc:  # the test looks at what went wrong
            errors.append(exc)
        finally:
            session.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], errors


async def _push(port: int, key: str, seconds: float = 3.0) -> tuple[int, str]:
    assert FFMPEG is not None
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-hide_banner", "-loglevel", "warning", "-re",
        "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", "25", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
        f"rtmp://127.0.0.1:{port}/live/{key}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode(errors="replace")


@pytest.mark.usefixtures("needs_ffmpeg")
async def test_ffmpeg_publishes_h264_and_aac() -> None:
    requests: list[PublishRequest] = []
    tags: list[VideoTag | AudioTag] = []

    async def handler(session: RtmpSession) -> None:
        await session.handshake()
        requests.append(await session.next_publish())
        await session.accept()
        async for tag in session.media():
            tags.append(tag)

    server, port, errors = await _serve(handler)
    async with server:
        code, log = await _push(port, "k-123?token=x")
    assert code == 0, log
    assert requests == [PublishRequest("live", "k-123")]
    videos = [t for t in tags if isinstance(t, VideoTag)]
    audios = [t for t in tags if isinstance(t, AudioTag)]
    assert videos[0].config and videos[0].codec == AVC  # SPS/PPS first
    assert videos[0].data[0] == 1  # an AVCDecoderConfigurationRecord
    pictures = [t for t in videos if not t.config]
    assert 70 <= len(pictures) <= 80  # 3 s at 25 frames/s
    assert sum(t.keyframe for t in pictures) >= 3  # one a second
    stamps = [t.timestamp_ms for t in pictures]
    assert stamps == sorted(stamps) and 2800 <= stamps[-1] - stamps[0] <= 3100
    assert audios[0].config and audios[0].codec == AAC
    assert len([t for t in audios if not t.config]) > 100  # ~43 AAC frames a second
    # The encoder unpublished or hung up when done: either ends the media quietly.
    assert all(isinstance(e, RtmpError) and "closed" in str(e) for e in errors), errors

    # Converted for the publisher: Annex B packets a decoder takes from the first keyframe on,
    # with rising timestamps; 20 ms frames of 48 kHz stereo audio.
    video = VideoConverter(Timeline(90_000, 3600))
    packets = [p for t in videos if (p := video.convert(t)) is not None]
    assert len(packets) == len(pictures) and packets[0].is_keyframe
    assert bytes(packets[0]).startswith(b"\x00\x00\x00\x01\x67")  # SPS first
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert len(decoded) == len(packets) and decoded[0].width == 320
    pts = [p.pts for p in packets]
    assert pts == sorted(set(pts)) and not video.reordered
    audio = AudioConverter(Timeline(48_000, 960))
    frames = [f for t in audios for f in audio.convert(t)]
    assert all(f.samples == 960 and f.sample_rate == 48_000 for f in frames)
    assert 2.5 <= len(frames) * 0.02 <= 3.1  # ~3 s of sound


@pytest.mark.usefixtures("needs_ffmpeg")
async def test_a_refused_key_reaches_the_encoder() -> None:
    async def handler(session: RtmpSession) -> None:
        await session.handshake()
        await session.next_publish()
        await session.refuse("NetStream.Publish.BadName", "no RTMP source has this stream key")

    server, port, _ = await _serve(handler)
    async with server:
        code, log = await _push(port, "wrong", seconds=1)
    assert code != 0


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:  # until the server hangs up (reading on, so its answers never meet a reset)
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def _handshake_bytes() -> bytes:
    return bytes([3]) + bytes(1536) + bytes(1536)


def _chunk(type_id: int, body: bytes, csid: int = 3) -> bytes:
    return bytes([csid]) + bytes(3) + len(body).to_bytes(3, "big") + bytes([type_id]) \
        + struct.pack("<I", 0) + body


async def _one(data: bytes) -> BaseException:
    failed: list[BaseException] = []

    async def handler(session: RtmpSession) -> None:
        await session.handshake()
        await session.next_publish()

    server, port, errors = await _serve(handler)
    async with server:
        await _raw(port, data)
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.05)
    failed.extend(errors)
    assert len(failed) == 1
    return failed[0]


async def test_not_rtmp_is_refused() -> None:
    err = await _one(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(3000))
    assert isinstance(err, RtmpError) and "not RTMP" in str(err)


async def test_an_oversized_message_is_refused() -> None:
    body = bytes(16)
    data = _handshake_bytes() + bytes([3]) + bytes(3) + (0xFFFFFF).to_bytes(3, "big") \
        + bytes([20]) + bytes(4) + body
    err = await _one(data)
    assert isinstance(err, RtmpError) and "at most" in str(err)


async def test_a_garbled_command_is_refused() -> None:
    err = await _one(_handshake_bytes() + _chunk(20, b"\x02\x00\x07connect\x00\x3f\xf0\x00\x07"))
    assert isinstance(err, RtmpError) and "garbled" in str(err)


async def test_a_chunk_stream_without_a_first_header_is_refused() -> None:
    err = await _one(_handshake_bytes() + bytes([0xC7]) + bytes(10))
    assert isinstance(err, RtmpError) and "without a full header" in str(err)


def test_amf0_round_trip_and_limits() -> None:
    value = {"app": "live", "n": 2.0, "ok": True, "none": None, "nested": {"a": "中文"}}
    assert amf0.decode_all(amf0.encode_all("connect", 1, value)) == ["connect", 1.0, value]
    deep = b"".join([b"\x03\x00\x01a"] * 40)
    with pytest.raises(amf0.AmfError, match="too deep"):
        amf0.decode_all(deep)
    with pytest.raises(amf0.AmfError, match="truncated"):
        amf0.decode_all(b"\x02\x00\x10abc")
    with pytest.raises(amf0.AmfError, match="not supported"):
        amf0.decode_all(b"\x11")


def test_unsupported_codecs_and_broken_h264_are_named() -> None:
    video = VideoConverter(Timeline(90_000, 3600))
    with pytest.raises(RtmpError, match="VP6 video; set it to H.264"):
        video.convert(VideoTag(0, 0, True, 4, False, b"x"))
    with pytest.raises(RtmpError, match="malformed H.264 configuration"):
        video.convert(VideoTag(0, 0, True, AVC, True, b"\x02"))
    assert video.convert(VideoTag(0, 0, True, AVC, False, b"\x00\x00\x00\x01\x65")) is None
    record = bytes([1, 66, 0, 30, 0xFF, 0xE1, 0, 2, 0x67, 0x42, 1, 0, 2, 0x68, 0xCE])
    assert video.convert(VideoTag(0, 0, True, AVC, True, record)) is None
    with pytest.raises(RtmpError, match="do not add up"):
        video.convert(VideoTag(40, 0, True, AVC, False, b"\x00\x00\x00\x09\x65"))
    audio = AudioConverter(Timeline(48_000, 960))
    with pytest.raises(RtmpError, match="Speex audio; set it to AAC"):
        audio.convert(AudioTag(0, 11, False, b"x"))
