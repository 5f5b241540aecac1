"""The media side of one classroom party: a send connection publishing the pre-encoded clip and
a receive connection that only counts and timestamps what the relay forwards.

- Sending: loadtest/publisher.py's `ClipTrack` hands aiortc encoded VP8 and Opus packets, so
  nothing is encoded; every video payload sent is stamped (CRC-32 -> send times, on
  CLOCK_MONOTONIC, which every process shares) and a keyframe request (PLI/FIR) makes the next
  frame an intra one, as a live encoder would.
- Receiving: the relay's offers are applied and answered as a page would; decrypted RTP is taken
  at the DTLS transport (no jitter buffer, no decoder, no RTCP feedback: loss is raw loss), and
  each packet is filed under its stream, which the offer's `a=msid:<participant> <publication>`
  names.

Both connections use max-bundle, as docs/signalling.md asks of aiortc clients.
"""

from __future__ import annotations

import time
import zlib
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aioice.turn
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import SessionDescription

from .clip import Clip
from .publisher import ClipTrack
from .rtpview import payload_offset, vp8_keyframe_start

RECEIVE_BUFFER = 4 * 2**20


def widen_receive_buffers(size: int = RECEIVE_BUFFER) -> None:
    """Give this process's ICE sockets a `size` receive buffer instead of aioice's 256 KiB:
    a Python receiver drains its socket in bursts, and several keyframes arriving at once (the
    hub's three points) overflow the default, which would count the generator's slowness as the
    relay's loss. Linux caps it at net.core.rmem_max."""
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = size  # read by aioice.ice when it binds a socket


def peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[],
                                              bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


@dataclass
class Stream:
    """What one receiver got on one SSRC: a publisher's camera or microphone."""

    publisher: str  # participant id
    kind: str  # "audio" | "video"
    times: array = field(default_factory=lambda: array("d"))
    seqs: array = field(default_factory=lambda: array("H"))
    crcs: array = field(default_factory=lambda: array("L"))  # video packets only
    keyframe_at: float | None = None

    def window(self, t0: float, t1: float) -> Stream:
        """Only the packets that arrived in [t0, t1) (what is sent back to the coordinator)."""
        out = Stream(self.publisher, self.kind, keyframe_at=self.keyframe_at)
        for at, t in enumerate(self.times):
            if t0 <= t < t1:
                out.times.append(t)
                out.seqs.append(self.seqs[at])
                if self.kind == "video":
                    out.crcs.append(self.crcs[at])
        return out


class Receiver:
    """The receive connection: answers the relay's offers, files RTP by stream."""

    def __init__(self) -> None:
        self.pc = peer()
        self.streams: dict[int, Stream] = {}  # by the SSRC the relay sends
        self.unknown_packets = 0
        self._video_pts: set[int] = set()
        self._hooked: set[int] = set()

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self._learn(offer)
        for transceiver in self.pc.getTransceivers():
            transport = transceiver.receiver.transport
            if id(transport) not in self._hooked:  # before any RTP can arrive on it
                self._hooked.add(id(transport))
                transport._handle_rtp_data = self._on_rtp  # type: ignore[method-assign]
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    def _learn(self, offer: str) -> None:
        for media in SessionDescription.parse(offer).media:
            if not media.msid or not media.ssrc:
                continue
            publisher = media.msid.split()[0]
            repairs = {int(s) for g in media.ssrc_group if g.semantic == "FID"
                       for s in g.items[1:]}
            for ssrc in media.ssrc:
                if ssrc.ssrc not in repairs and ssrc.ssrc not in self.streams:
                    self.streams[ssrc.ssrc] = Stream(publisher, media.kind)
            if media.kind == "video":
                self._video_pts |= {c.payloadType for c in media.rtp.codecs
                                    if c.mimeType.lower() == "video/vp8"}

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        now = time.monotonic()
        stream = self.streams.get(int.from_bytes(data[8:12]))
        if stream is None:
            self.unknown_packets += 1
            return
        stream.times.append(now)
        stream.seqs.append((data[2] << 8) | data[3])
        if stream.kind == "video":
            payload = memoryview(data)[payload_offset(data):]
            stream.crcs.append(zlib.crc32(payload) if data[1] & 0x7F in self._video_pts else 0)
            if stream.keyframe_at is None and vp8_keyframe_start(payload):
                stream.keyframe_at = now


class Sender:
    """The send connection: the clip's camera (VP8) and microphone (Opus), stamped."""

    def __init__(self, clip: Clip):
        self.pc = peer()
        self.video = ClipTrack("video", clip)
        self.audio = ClipTrack("audio", clip)
        self.stamps: dict[int, list[float]] = {}  # video payload CRC -> send times
        self.packets_sent = 0
        self.keyframe_requests: list[float] = []

    async def offer(self) -> tuple[str, dict[str, str]]:
        """The offer and its `sources` ({mid: label}) for `publish`."""
        video = self.pc.addTransceiver(self.video, direction="sendonly")
        audio = self.pc.addTransceiver(self.audio, direction="sendonly")
        video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                   if c.mimeType.lower() in ("video/vp8", "video/rtx")])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        video_pts = {c.payloadType for c in video._codecs if c.mimeType.lower() == "video/vp8"}
        self._hook(video.sender, video_pts)
        sources = {str(video.mid): "camera", str(audio.mid): "microphone"}
        return str(self.pc.localDescription.sdp), sources

    def _hook(self, sender: RTCRtpSender, video_pts: set[int]) -> None:
        force = sender._send_keyframe

        def keyframe_requested() -> None:
            self.keyframe_requests.append(time.monotonic())
            self.video.want_keyframe = True
            force()

        sender._send_keyframe = keyframe_requested  # type: ignore[method-assign]
        dtls = sender.transport  # max-bundle: the audio m-line sends on it too
        send: Callable[[bytes], Awaitable[None]] = dtls._send_rtp

        async def stamped(data: bytes) -> None:
            if 192 <= data[1] <= 223:  # RTCP
                await send(data)
                return
            self.packets_sent += 1
            if data[1] & 0x7F in video_pts:
                crc = zlib.crc32(memoryview(data)[payload_offset(data):])
                self.stamps.setdefault(crc, []).append(time.monotonic())
            await send(data)

        dtls._send_rtp = stamped  # type: ignore[method-assign]

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
