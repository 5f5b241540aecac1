"""An IP camera pulled over RTSP (PyAV), offered to the relay as an in-process WebRTC publisher.

    camera = RtspCamera(url)
    layout = await camera.connect()        # CameraError if it does not answer
    offer = await camera.offer(layout)     # the publisher's SDP offer (a new one per layout)
    await camera.accept(answer_sdp)        # the relay's answer: packets flow
    reason = await camera.dropped()        # the camera stopped sending (read error, EOF)
    await camera.disconnect(); layout = await camera.connect()  # ... and again
    await camera.close()

Each connection reads in its own thread (PyAV blocks); what it reads goes to the publisher's
tracks through the event loop. H.264 is handed to aiortc as `av.Packet`s, which its sender
packs into RTP without encoding (Annex B, SPS/PPS put before every keyframe); other video is
decoded here and encoded once by aiortc, audio decoded here and encoded once to Opus. The
publisher's connection outlives the camera's: while the camera reconnects its tracks just pause,
so receivers resume by themselves when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container

from .feed import Item, Timeline
from .publisher import LocalPublisher

log = logging.getLogger("kelian.media.rtsp")

VIDEO_RATE = 90_000
AUDIO_RATE = 48_000  # what aiortc's Opus encoder takes without resampling again
FORWARDED_VIDEO = "h264"  # what the relay forwards as the camera sends it


class CameraError(Exception):
    """The camera could not be opened: the message says why, without its URL (it may carry a
    password)."""


@dataclass(frozen=True)
class RtspTiming:
    open_s: float = 5.0  # connecting and reading the stream's description
    read_s: float = 5.0  # no packet for this long: the camera has dropped
    transport: str = "tcp"  # RTSP interleaved over TCP: no UDP ports through school firewalls


@dataclass(frozen=True)
class Layout:
    """What the camera sends: codec names as PyAV calls them (None: no such stream)."""

    video: str | None
    audio: str | None

    @property
    def forwarded(self) -> bool:
        return self.video == FORWARDED_VIDEO

    def tracks(self) -> tuple[bool, bool, bool]:
        """What the publisher's tracks depend on: a camera that comes back the same keeps them."""
        return self.video is not None, self.forwarded, self.audio is not None


def _reason(err: BaseException) -> str:
    if isinstance(err, av.FFmpegError):
        return err.strerror or type(err).__name__  # its filename would be the URL
    return str(err) or type(err).__name__


class _Connection:
    """One connection to the camera: a reader thread and the futures it settles on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[str, Item, bool], None]):
        self.loop = loop
        self.deliver = deliver
        self.stop = threading.Event()
        self.opened: asyncio.Future[Layout] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        # Nobody may be waiting any more (connect() cancelled): do not warn of it at exit.
        self.opened.add_done_callback(lambda f: f.cancelled() or f.exception())

    def settle(self, future: asyncio.Future[object], value: object = None,
               error: BaseException | None = None) -> None:
        """From the reader thread: settle `future` on the loop (unless the loop is gone)."""
        def apply() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        try:
            self.loop.call_soon_threadsafe(apply)
        except RuntimeError:  # the loop closed: nobody waits any more
            pass

    def push(self, kind: str, item: Item, keyframe: bool) -> None:
        try:
            self.loop.call_soon_threadsafe(self.deliver, kind, item, keyframe)
        except RuntimeError:
            self.stop.set()


class _Reader:
    """The reader thread's work for one connection; stamps go on the camera's timelines."""

    def __init__(self, url: str, timing: RtspTiming, conn: _Connection, video: Timeline,
                 audio: Timeline):
        self.url, self.timing, self.conn = url, timing, conn
        self.video_time, self.audio_time = video, audio
        self.samples = 0  # audio samples read on this connection

    def run(self) -> None:
        conn = self.conn
        try:
            container = av.open(self.url, options={
                "rtsp_transport": self.timing.transport,
                "timeout": str(int(self.timing.read_s * 1_000_000)),  # socket I/O, µs
            }, timeout=(self.timing.open_s, self.timing.read_s))
        except Exception as err:
            conn.settle(conn.opened, error=CameraError(_reason(err)))
            conn.settle(conn.ended, "not connected")
            conn.settle(conn.finished)
            return
        try:
            self._read(container)
            conn.settle(conn.ended, "the camera ended the stream")
        except Exception as err:
            conn.settle(conn.opened, error=CameraError(_reason(err)))
            conn.settle(conn.ended, _reason(err))
        finally:
            container.close()
            conn.settle(conn.finished)

    def _read(self, container: av.container.InputContainer) -> None:
        conn = self.conn
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise CameraError("the stream has neither video nor audio")
        layout = Layout(video.codec_context.name if video else None,
                        audio.codec_context.name if audio else None)
        self.video_time.restart()
        self.audio_time.restart()
        conn.settle(conn.opened, layout)
        # SPS and PPS often come only in the SDP (sprop-parameter-sets): put them before every
        # keyframe, as receivers that join late need them.
        annexb = av.BitStreamFilterContext("dump_extra=freq=keyframe", video) \
            if video is not None and layout.forwarded else None
        if video is not None and not layout.forwarded:
            video.thread_type = "AUTO"
        # 20 ms frames: aiortc sends one Opus packet per frame it is given.
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE,
                                      frame_size=AUDIO_RATE // 50)
        for packet in container.demux([s for s in (video, audio) if s is not None]):
            if conn.stop.is_set():
                return
            if packet.size == 0:
                continue
            if packet.stream is video and annexb is not None:
                for out in annexb.filter(packet):
                    self._video_packet(out)
                continue
            try:
                frames = packet.decode()
            except av.FFmpegError as err:  # a damaged packet: the next ones may be fine
                log.debug("undecodable %s packet: %s", packet.stream.type, err)
                continue
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    self._video_frame(frame)
                elif isinstance(frame, av.AudioFrame):
                    for chunk in resampler.resample(frame):
                        self._audio_frame(chunk)

    def _video_pts(self, pts: int | None, time_base: Fraction | None) -> int:
        local = round(pts * time_base * VIDEO_RATE) if pts is not None and time_base else None
        return self.video_time.stamp(local)

    def _video_packet(self, packet: av.Packet) -> None:
        stamp = self._video_pts(packet.pts, packet.time_base)
        packet.pts = packet.dts = stamp
        packet.time_base = self.video_time.time_base
        self.conn.push("video", packet, packet.is_keyframe)

    def _video_frame(self, frame: av.VideoFrame) -> None:
        stamp = self._video_pts(frame.pts, frame.time_base)
        if frame.format.name != "yuv420p":  # what aiortc's encoders take
            frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = stamp, self.video_time.time_base
        self.conn.push("video", frame, True)

    def _audio_frame(self, frame: av.AudioFrame) -> None:
        frame.pts = self.audio_time.stamp(self.samples)
        frame.time_base = self.audio_time.time_base
        self.samples += frame.samples
        self.conn.push("audio", frame, True)


class RtspCamera:
    def __init__(self, url: str, timing: RtspTiming | None = None, name: str = "rtsp"):
        self.url = url
        self.timing = timing or RtspTiming()
        self.name = name  # for thread names and logs
        self._conn: _Connection | None = None
        self._video_time = Timeline(VIDEO_RATE, VIDEO_RATE // 25)
        self._audio_time = Timeline(AUDIO_RATE, AUDIO_RATE // 50)
        self._publisher = LocalPublisher()
        self.layout: Layout | None = None  # what the publisher's tracks were made for

    # The camera --------------------------------------------------------------------------------

    async def connect(self) -> Layout:
        """Open the camera (in a new reader thread); what it sends. Raises `CameraError`."""
        await self.disconnect()
        conn = _Connection(asyncio.get_running_loop(), self._deliver)
        self._conn = conn
        reader = _Reader(self.url, self.timing, conn, self._video_time, self._audio_time)
        threading.Thread(target=reader.run, name=f"kelian-{self.name}", daemon=True).start()
        try:
            layout = await asyncio.shield(conn.opened)
        except BaseException:
            await self.disconnect()
            raise
        self._publisher.resync()
        return layout

    async def dropped(self) -> str:
        """Wait until the connection ends by itself; why."""
        if self._conn is None:
            raise RuntimeError("not connected")
        return await asyncio.shield(self._conn.ended)

    async def disconnect(self) -> None:
        """Stop reading; returns once the reader thread has finished (at most `read_s`)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.stop.set()
            await asyncio.shield(conn.finished)

    def _deliver(self, kind: str, item: Item, keyframe: bool) -> None:
        self._publisher.push(kind, item, keyframe)

    # The publisher -----------------------------------------------------------------------------

    async def offer(self, layout: Layout) -> str:
        """A new publisher for `layout` (the previous one closed): its SDP offer."""
        self.layout = layout
        return await self._publisher.offer(video=layout.video is not None,
                                           forwarded=layout.forwarded,
                                           audio=layout.audio is not None)

    async def accept(self, answer_sdp: str) -> None:
        await self._publisher.accept(answer_sdp)

    def pushed(self) -> dict[str, int]:
        """Items handed to each track so far (for logs and tests)."""
        return self._publisher.pushed()

    async def close(self) -> None:
        """Stop reading and publishing: no thread or socket is left."""
        try:
            await self.disconnect()
        finally:
            await self._publisher.close()
            self.layout = None
