"""Plain RTP out, for a target that takes unencrypted RTP instead of WebRTC (Janus streaming).

The publisher's ClipTrack still paces the clip, and aiortc's own packetizers (those its
RTCRtpSender uses) cut each frame, so the payloads and their timing are those of the WebRTC
publisher and subscribers match delays by payload as before. Only the wrapping differs: one
UDP socket per track, our own RTP header (no header extensions, no SRTP). Video has an RTCP
socket too: it sends a sender report every second, which is how Janus learns where to send
keyframe requests, and hands PLI/FIR coming back to `on_keyframe_request`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from aiortc.clock import current_ntp_time
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
)
from aiortc.utils import uint16_add, uint32_add

AUDIO_PT, VIDEO_PT = 111, 96  # what the target's configuration expects
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48_000, channels=2,
                             payloadType=AUDIO_PT)
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=VIDEO_PT)
SENDER_REPORT_INTERVAL_S = 1.0


@dataclass(frozen=True)
class RtpDestination:
    """Where a plain-RTP target listens (all on `host`)."""

    host: str
    audio_port: int
    video_port: int
    video_rtcp_port: int


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes], None] | None = None):
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.on_datagram is not None:
            self.on_datagram(data)


async def _udp(host: str, port: int, on_datagram: Callable[[bytes], None] | None = None
               ) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(on_datagram), local_addr=("127.0.0.1", 0), remote_addr=(host, port))
    return transport


class RtpStream:
    """One track as plain RTP to one port. `on_payload` sees each payload just before it is
    sent (the publisher stamps video payloads there, as it does for WebRTC)."""

    def __init__(self, track: MediaStreamTrack, codec: RTCRtpCodecParameters,
                 transport: asyncio.DatagramTransport, on_payload: Callable[[bytes], None]):
        self.track = track
        self.codec = codec
        self.transport = transport
        self.on_payload = on_payload
        self.ssrc = random.getrandbits(32)
        self.packets = 0
        self.octets = 0
        self.last_timestamp = 0

    async def run(self) -> None:
        encoder = get_encoder(self.codec)
        sequence = random.getrandbits(16)
        origin = random.getrandbits(32)
        try:
            await self._loop(encoder, sequence, origin)
        finally:
            self.transport.close()

    async def _loop(self, encoder: Encoder, sequence: int, origin: int) -> None:
        while True:
            frame = await self.track.recv()
            payloads, timestamp = encoder.pack(frame)  # type: ignore[arg-type]
            self.last_timestamp = uint32_add(origin, timestamp)
            for i, payload in enumerate(payloads):
                packet = RtpPacket(payload_type=self.codec.payloadType or 0,
                                   sequence_number=sequence, timestamp=self.last_timestamp,
                                   ssrc=self.ssrc, marker=int(i == len(payloads) - 1),
                                   payload=payload)
                self.on_payload(payload)
                self.transport.sendto(packet.serialize())
                sequence = uint16_add(sequence, 1)
                self.packets += 1
                self.octets += len(payload)


class RtcpChannel:
    """Video RTCP with the target: sender reports out, PLI/FIR in."""

    def __init__(self, stream: RtpStream, on_keyframe_request: Callable[[], None]):
        self.stream = stream
        self.on_keyframe_request = on_keyframe_request
        self.transport: asyncio.DatagramTransport | None = None

    def _received(self, data: bytes) -> None:
        try:
            packets = RtcpPacket.parse(data)
        except ValueError:
            return
        if any(isinstance(p, RtcpPsfbPacket) and p.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR)
               for p in packets):
            self.on_keyframe_request()

    async def run(self, host: str, port: int) -> None:
        self.transport = await _udp(host, port, self._received)
        try:
            while True:
                report = RtcpSrPacket(ssrc=self.stream.ssrc, sender_info=RtcpSenderInfo(
                    ntp_timestamp=current_ntp_time(), rtp_timestamp=self.stream.last_timestamp,
                    packet_count=self.stream.packets & 0xFFFFFFFF,
                    octet_count=self.stream.octets & 0xFFFFFFFF))
                self.transport.sendto(bytes(report))
                await asyncio.sleep(SENDER_REPORT_INTERVAL_S)
        finally:
            self.transport.close()


async def open_streams(destination: RtpDestination, video: MediaStreamTrack,
                       audio: MediaStreamTrack, on_video_payload: Callable[[bytes], None],
                       on_audio_payload: Callable[[bytes], None],
                       on_keyframe_request: Callable[[], None]) -> list[asyncio.Task[None]]:
    """Start sending both tracks (and video RTCP); cancel the returned tasks to stop."""
    host = destination.host
    video_stream = RtpStream(video, VP8, await _udp(host, destination.video_port),
                             on_video_payload)
    audio_stream = RtpStream(audio, OPUS, await _udp(host, destination.audio_port),
                             on_audio_payload)
    rtcp = RtcpChannel(video_stream, on_keyframe_request)
    return [asyncio.create_task(video_stream.run()), asyncio.create_task(audio_stream.run()),
            asyncio.create_task(rtcp.run(host, destination.video_rtcp_port))]
