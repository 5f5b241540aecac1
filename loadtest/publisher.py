"""The publisher: one real aiortc peer sending the pre-encoded clip, paced, never encoding.

Runs in its own process. Every video payload it sends is stamped (CRC-32 of the payload ->
send time on CLOCK_MONOTONIC, which all processes share) so subscribers can measure the
forwarding delay by payload. Keyframe requests (PLI/FIR) reaching it are counted and answered
by splicing in the intra-coded version of the next frame.

For a target that takes plain RTP (`janus`), the same tracks go out through
loadtest/plainrtp.py instead of a peer connection: same pacing, same payloads.
"""

from __future__ import annotations

import asyncio
import resource
import time
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from multiprocessing.connection import Connection
from pathlib import Path

import av
from aiohttp import ClientSession
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from .clip import AUDIO_SAMPLES, AUDIO_TIME_BASE, FPS, VIDEO_TIME_BASE, Clip, load_clip
from .loopback import use_loopback_only
from .plainrtp import RtpDestination, open_streams
from .rtpview import payload_offset


@dataclass
class PublisherResult:
    sent: dict[int, float] = field(default_factory=dict)  # video payload CRC -> send time
    keyframe_requests: list[float] = field(default_factory=list)
    packets_sent: int = 0
    cpu_marks: list[float] = field(default_factory=list)
    error: str | None = None


class ClipTrack(MediaStreamTrack):
    """Returns the clip's encoded packets at their own pace, looping with increasing pts."""

    def __init__(self, kind: str, clip: Clip):
        super().__init__()
        self.kind = kind
        self._clip = clip
        self._index = 0
        self._start: float | None = None
        self.want_keyframe = False

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self._start is None:
            self._start = time.monotonic()
        if self.kind == "video":
            step, time_base, packets = Fraction(1, FPS), VIDEO_TIME_BASE, self._clip.video
            pts = self._index * (90_000 // FPS)
        else:
            step, time_base, packets = Fraction(AUDIO_SAMPLES, 48_000), AUDIO_TIME_BASE, \
                self._clip.audio
            pts = self._index * AUDIO_SAMPLES
        due = self._start + float(self._index * step)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        at = self._index % len(packets)
        source = packets[at]
        if self.kind == "video" and self.want_keyframe and not source.keyframe:
            self.want_keyframe = False
            source = self._clip.intra[at]
        elif source.keyframe:
            self.want_keyframe = False
        packet = av.Packet(source.data)
        packet.pts = pts
        packet.time_base = time_base
        self._index += 1
        return packet


async def _publish(url: str, clip: Clip, conn: Connection, deadline: float) -> PublisherResult:
    result = PublisherResult()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video, audio = ClipTrack("video", clip), ClipTrack("audio", clip)
    video_transceiver = pc.addTransceiver(video, direction="sendonly")
    pc.addTransceiver(audio, direction="sendonly")
    video_transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs
         if c.mimeType.lower() in ("video/vp8", "video/rtx")])
    await pc.setLocalDescription(await pc.createOffer())
    video_pts = {c.payloadType for c in video_transceiver._codecs
                 if c.mimeType.lower() == "video/vp8"}

    sender = video_transceiver.sender
    force = sender._send_keyframe

    def keyframe_requested() -> None:
        result.keyframe_requests.append(time.monotonic())
        video.want_keyframe = True
        force()

    sender._send_keyframe = keyframe_requested  # type: ignore[method-assign]
    dtls = sender.transport
    send = dtls._send_rtp

    async def stamped_send(data: bytes) -> None:
        if not 192 <= data[1] <= 223:  # RTP, not RTCP
            result.packets_sent += 1
            if data[1] & 0x7F in video_pts:
                result.sent[zlib.crc32(memoryview(data)[payload_offset(data):])] = time.monotonic()
        await send(data)

    dtls._send_rtp = stamped_send  # type: ignore[method-assign]

    async with ClientSession() as http:
        async with http.post(f"{url}/publish", json={
            "participant": "teacher", "sdp": pc.localDescription.sdp,
            "sources": {"0": "camera", "1": "microphone"}}) as response:
            response.raise_for_status()
            answer = (await response.json())["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    conn.send(("published",))
    await _until_stopped(conn, result, deadline)
    await pc.close()
    return result


async def _publish_plain(destination: RtpDestination, clip: Clip, conn: Connection,
                         deadline: float) -> PublisherResult:
    result = PublisherResult()
    video, audio = ClipTrack("video", clip), ClipTrack("audio", clip)

    def video_payload(payload: bytes) -> None:
        result.packets_sent += 1
        result.sent[zlib.crc32(payload)] = time.monotonic()

    def audio_payload(payload: bytes) -> None:
        result.packets_sent += 1

    def keyframe_requested() -> None:
        result.keyframe_requests.append(time.monotonic())
        video.want_keyframe = True

    tasks = await open_streams(destination, video, audio, video_payload, audio_payload,
                               keyframe_requested)
    conn.send(("published",))
    try:
        await _until_stopped(conn, result, deadline)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


async def _until_stopped(conn: Connection, result: PublisherResult, deadline: float) -> None:
    """Note CPU marks until the coordinator says stop (or the deadline passes)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_message() -> None:
        message = conn.recv()
        if message[0] == "mark":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            result.cpu_marks.append(usage.ru_utime + usage.ru_stime)
        elif message[0] == "stop":
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    try:
        await asyncio.wait_for(stop.wait(), max(1.0, deadline - time.monotonic()))
    except TimeoutError:
        result.error = "stopped by its deadline"
    loop.remove_reader(conn.fileno())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_marks.append(usage.ru_utime + usage.ru_stime)


def run_publisher(target: str | RtpDestination, cache_dir: str, clip_seconds: int,
                  conn: Connection, max_seconds: float) -> None:
    """Process entry point: publish until told to stop (or `max_seconds`), send the result.
    `target` is a control server's URL (WebRTC) or where to send plain RTP."""
    use_loopback_only()
    clip = load_clip(Path(cache_dir), clip_seconds)
    deadline = time.monotonic() + max_seconds
    try:
        if isinstance(target, RtpDestination):
            result = asyncio.run(_publish_plain(target, clip, conn, deadline))
        else:
            result = asyncio.run(_publish(target, clip, conn, deadline))
    except Exception as exc:  # reported to the coordinator, which fails the run
        result = PublisherResult(error=repr(exc))
    conn.send(("result", result))
