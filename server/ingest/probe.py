"""Testing a Source from the admin page: what a camera or an encoder sends, and one picture.

    probe = await probe_rtsp(url)      # opens the camera for a few seconds; ProbeError if it fails
    probe = await probe_feed(feed)     # an RTMP encoder pushing now: what it has sent lately

Pure media (PyAV), no web: the page turns a `SourceProbe` into its facts table. PyAV blocks, so
the work runs in a worker thread with the same timeouts as the live pull (media/ingest/rtsp.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.container

from media.ingest.rtsp import RtspTiming

if TYPE_CHECKING:
    from .rtmp import EncoderFeed

SNAPSHOT_WIDTH = 640  # the page shows the picture small; a 4K keyframe need not travel whole
KEYFRAME_WAIT_S = 5.0  # after `seconds`, how long to wait for a first keyframe still
FEED_WAIT_S = 3.0  # an encoder that has just connected: how long to wait for its keyframe
SCHEMES = ("rtsp://", "rtsps://")


class ProbeError(Exception):
    """The source could not be tested: the message says why, never with its URL (it may carry
    a password)."""


@dataclass(frozen=True)
class SourceProbe:
    video: str | None  # codec name as PyAV calls it ("h264"); None: no video
    width: int
    height: int
    fps: float | None  # measured from timestamps; None: too few pictures to tell
    kbps: float | None  # video only
    audio: str | None
    snapshot: bytes | None  # a JPEG of the first decodable keyframe


# Measuring -------------------------------------------------------------------------------------


class _Meter:
    """Video packets' timestamps and sizes: frame rate and bitrate over their time span."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.bytes = 0

    def add(self, seconds: float, size: int) -> None:
        self.first = seconds if self.first is None else min(self.first, seconds)
        self.last = seconds if self.last is None else max(self.last, seconds)
        self.count += 1
        self.bytes += size

    def rates(self) -> tuple[float | None, float | None]:
        """(frames/s, kbit/s); None while the span is too short to tell."""
        if self.first is None or self.last is None or self.count < 2 \
                or self.last - self.first <= 0:
            return None, None
        span = self.last - self.first
        # n timestamps span n-1 frame intervals; the bytes are spread over all n frames.
        fps = (self.count - 1) / span
        kbps = self.bytes * 8 / (span * self.count / (self.count - 1)) / 1000
        return fps, kbps


def jpeg(frame: av.VideoFrame, max_width: int = SNAPSHOT_WIDTH) -> bytes:
    """`frame` as a JPEG no wider than `max_width` (even sizes, as the encoder wants)."""
    width, height = frame.width, frame.height
    if width > max_width:
        width, height = max_width, max(2, round(height * max_width / width / 2) * 2)
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    picture.pts = 0
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"  # type: ignore[attr-defined]
    encoder.time_base = Fraction(1, 25)
    packets = encoder.encode(picture) + encoder.encode(None)  # type: ignore[attr-defined]
    if not packets:
        raise ProbeError("the picture could not be encoded as JPEG")
    return bytes(packets[0])


def _reason(err: BaseException, url: str) -> str:
    if isinstance(err, av.FFmpegError):
        reason = err.strerror or type(err).__name__  # its filename would be the URL
    else:
        reason = str(err) or type(err).__name__
    return reason.replace(url, "<url>") if url else reason


# RTSP ------------------------------------------------------------------------------------------


async def probe_rtsp(url: str, seconds: float = 3.0, timing: RtspTiming | None = None
                     ) -> SourceProbe:
    """Open the camera over RTSP (TCP), read for `seconds`, and say what it sends."""
    if not url.lower().startswith(SCHEMES):
        raise ProbeError("not an rtsp:// or rtsps:// address")
    return await asyncio.to_thread(_probe_rtsp, url, seconds, timing or RtspTiming())


def _probe_rtsp(url: str, seconds: float, timing: RtspTiming) -> SourceProbe:
    try:
        container = av.open(url, format="rtsp", options={
            "rtsp_transport": timing.transport,
            "timeout": str(int(timing.read_s * 1_000_000)),  # socket I/O, µs
        }, timeout=(timing.open_s, timing.read_s))
    except Exception as err:
        raise ProbeError(_reason(err, url)) from None
    try:
        return _read(container, seconds)
    except ProbeError:
        raise
    except Exception as err:
        raise ProbeError(_reason(err, url)) from None
    finally:
        container.close()


def _read(container: av.container.InputContainer, seconds: float) -> SourceProbe:
    video = container.streams.video[0] if container.streams.video else None
    audio = container.streams.audio[0] if container.streams.audio else None
    if video is None and audio is None:
        raise ProbeError("the stream has neither video nor audio")
    meter = _Meter()
    snapshot: bytes | None = None
    width = height = 0
    started = time.monotonic()
    if video is not None:
        keyframe_seen = False
        for packet in container.demux(video):
            # Without a snapshot yet, the camera's next keyframe is worth a few seconds more.
            if time.monotonic() - started >= seconds + (0 if snapshot else KEYFRAME_WAIT_S):
                break
            if packet.size == 0:
                continue
            if packet.pts is not None and packet.time_base is not None:
                meter.add(float(packet.pts * packet.time_base), packet.size)
            # Pictures before the first keyframe decode to grey smudges: start at one.
            keyframe_seen = keyframe_seen or packet.is_keyframe
            if snapshot is None and keyframe_seen:
                snapshot, width, height = _snapshot(packet) or (None, 0, 0)
        width = width or video.codec_context.width
        height = height or video.codec_context.height
    fps, kbps = meter.rates()
    return SourceProbe(
        video=video.codec_context.name if video is not None else None,
        width=width, height=height, fps=fps, kbps=kbps,
        audio=audio.codec_context.name if audio is not None else None,
        snapshot=snapshot)


def _snapshot(packet: av.Packet) -> tuple[bytes, int, int] | None:
    try:
        frames = packet.decode()
    except av.FFmpegError:  # damaged: the next keyframe may do
        return None
    for frame in frames:
        if isinstance(frame, av.VideoFrame):
            return jpeg(frame), frame.width, frame.height
    return None


# RTMP ------------------------------------------------------------------------------------------


async def probe_feed(feed: EncoderFeed, wait_s: float = FEED_WAIT_S) -> SourceProbe:
    """What the encoder connected to `feed` has sent lately, and its last keyframe as a JPEG."""
    deadline = time.monotonic() + wait_s
    while not feed.connected or not feed.video.keyframe:  # just connected: one is on the way
        if not feed.connected:  # its last keyframe would be a picture from the past
            raise ProbeError("the encoder is not connected")
        if time.monotonic() >= deadline:
            raise ProbeError("the encoder has sent no H.264 keyframe yet")
        await asyncio.sleep(0.2)
    keyframe = feed.video.keyframe
    fps, kbps = feed.video.rates()
    frame = await asyncio.to_thread(_decode_h264, keyframe)
    return SourceProbe(video="h264", width=frame[1], height=frame[2], fps=fps, kbps=kbps,
                       audio=feed.audio.codec_name, snapshot=frame[0])


def _decode_h264(annexb: bytes) -> tuple[bytes, int, int]:
    decoder = av.CodecContext.create("h264", "r")
    try:
        frames = decoder.decode(av.Packet(annexb)) + decoder.decode(None)  # type: ignore[attr-defined]
    except av.FFmpegError as err:
        raise ProbeError(f"the encoder's keyframe does not decode ({err.strerror})") from None
    for frame in frames:
        if isinstance(frame, av.VideoFrame):
            return jpeg(frame), frame.width, frame.height
    raise ProbeError("the encoder's keyframe does not decode")
