"""A participant's media side for tests: real aiortc peer connections driven over signalling.

It publishes small generated tracks on a send connection and answers every `event.offer` on
its receive connection, as a browser or terminal page would.
"""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from .wsclient import Message, SignalClient


class SmallVideoTrack(VideoStreamTrack):
    """160x120 frames of changing grey: cheap to encode and decode."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        shade = (pts // 3000) % 200 + 20
        frame = av.VideoFrame(160, 120, "yuv420p")
        for plane, value in zip(frame.planes, (shade, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, fractions.Fraction(time_base.numerator,
                                                              time_base.denominator)
        return frame


def peer() -> RTCPeerConnection:
    # aiortc's default bundle policy ("balanced") leaves a second video m-line after an audio
    # one off the BUNDLE transport, so it never receives; browsers bundle properly.
    return RTCPeerConnection(RTCConfiguration(iceServers=[],
                                              bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


class MediaClient:
    def __init__(self, signal: SignalClient):
        self.signal = signal
        self.send: RTCPeerConnection | None = None
        self.sources: dict[str, str] = {}  # mid -> source label, of everything published
        self.receive = peer()
        self.offers_answered = 0
        self._seen = 0
        self._answering = asyncio.create_task(self._answer_offers())

    async def publish(self, sources: list[str]) -> Message:
        """Publish one track per source label ("camera", "microphone", "screen")."""
        self.send = self.send or peer()
        earlier = len(self.send.getTransceivers())
        for source in sources:
            track: MediaStreamTrack = (AudioStreamTrack() if source == "microphone"
                                       else SmallVideoTrack())
            self.send.addTrack(track)
        await self.send.setLocalDescription(await self.send.createOffer())
        new = self.send.getTransceivers()[earlier:]
        self.sources.update({t.mid: source for t, source in zip(new, sources, strict=True)})
        reply = await self.signal.request("publish", sdp=self.send.localDescription.sdp,
                                          sources=self.sources)
        if reply["type"] == "ok":
            await self.send.setRemoteDescription(
                RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        return reply

    async def _answer_offers(self) -> None:
        while True:
            offer = await self.signal.wait(lambda m: m["type"] == "event.offer", timeout=3600,
                                           what="offer", start=self._seen)
            self._seen = self.signal.received.index(offer, self._seen) + 1
            await self.receive.setRemoteDescription(
                RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await self.receive.setLocalDescription(await self.receive.createAnswer())
            await self.signal.ok("answer", sdp=self.receive.localDescription.sdp)
            self.offers_answered += 1

    def active(self) -> list[RTCRtpTransceiver]:
        """The receive connection's m-lines the relay currently sends on."""
        return [t for t in self.receive.getTransceivers() if t.currentDirection == "recvonly"]

    def active_kinds(self) -> list[str]:
        return sorted(t.kind for t in self.active())

    async def packets(self) -> list[int]:
        """RTP packets received so far on each active m-line."""
        counts = []
        for transceiver in self.active():
            report: Any = await transceiver.receiver.getStats()
            counts.append(sum(s.packetsReceived for s in report.values()
                              if s.type == "inbound-rtp"))
        return counts

    async def close(self) -> None:
        self._answering.cancel()
        await asyncio.gather(self._answering, return_exceptions=True)
        for pc in (self.send, self.receive):
            if pc is not None:
                await pc.close()
