"""A subscriber whose estimates (REMB over its real RTCP) collapse is paused to audio only and
resumed when they recover; the publisher is asked for what the subscribers can carry."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RTCP_PSFB_APP, RtcpPacket, RtcpPsfbPacket, pack_remb_fci, unpack_remb_fci

from media.interface import MediaEvent, TrackKind, VideoPaused, VideoResumed
from media.relay.room import RelayService
from media.rtp.header import read_header
from media.rtp.keyframes import vp8_keyframe_start
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _peer, _publish


def _silence_own_estimates(pc: RTCPeerConnection) -> None:
    """This client reports only the estimates the test sends for it."""
    for transceiver in pc.getTransceivers():
        transceiver.receiver._RTCRtpReceiver__remote_bitrate_estimator = None


async def _send_remb(pc: RTCPeerConnection, bitrate: int, media_ssrcs: list[int]) -> None:
    transceiver = pc.getTransceivers()[0]
    packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=transceiver.sender._ssrc, media_ssrc=0,
                            fci=pack_remb_fci(bitrate, media_ssrcs))
    await transceiver.receiver.transport._send_rtp(bytes(packet))


async def test_video_pauses_on_a_poor_link_and_resumes_keyframe_first() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("bw-1", events.append)
    clients: list[RTCPeerConnection] = []
    asked: list[int] = []
    try:
        publisher, _ = await _publish(room, events)
        clients.append(publisher)
        publisher_dtls = publisher.getTransceivers()[0].sender.transport
        original_rtcp = publisher_dtls._handle_rtcp_data

        async def record_remb(data: bytes) -> None:
            for packet in RtcpPacket.parse(data):
                if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                    asked.append(unpack_remb_fci(packet.fci)[0])
            await original_rtcp(data)

        publisher_dtls._handle_rtcp_data = record_remb

        ids = [p.publication_id for p in room.publications()]
        offer = await room.subscribe("point-a", ids)
        assert offer is not None
        subscriber = _peer()
        clients.append(subscriber)
        await subscriber.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        _silence_own_estimates(subscriber)
        video_received: list[bytes] = []
        dtls = subscriber.getTransceivers()[0].receiver.transport
        original_rtp = dtls._handle_rtp_data
        video_ssrc = next(t.sender._ssrc for t in room._subscribers["point-a"].pc.getTransceivers()
                          if t.kind == "video")

        async def record_video(data: bytes, arrival_time_ms: int) -> None:
            header = read_header(data)
            if header.ssrc == video_ssrc:
                video_received.append(data[header.payload_at:])
            await original_rtp(data, arrival_time_ms)

        dtls._handle_rtp_data = record_video
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await room.accept_answer("point-a", subscriber.localDescription.sdp)
        await eventually(lambda: len(video_received) > 10, timeout=10)

        async def report(bitrate: int, seconds: float) -> None:
            for _ in range(int(seconds / 0.25)):
                await _send_remb(subscriber, bitrate, [video_ssrc])
                await asyncio.sleep(0.25)

        await report(900_000, 0.5)
        await eventually(lambda: 900_000 in asked, timeout=3)  # the publisher is steered

        await report(80_000, 2.5)
        await eventually(lambda: any(isinstance(e, VideoPaused) for e in events), timeout=2)
        consumer = next(c for c in room._subscribers["point-a"].consumers.values()
                        if c.producer.info.kind is TrackKind.video)
        assert consumer.paused
        count = len(video_received)
        await asyncio.sleep(0.5)
        assert len(video_received) == count  # audio only now

        await report(1_500_000, 4.5)
        await eventually(lambda: any(isinstance(e, VideoResumed) for e in events), timeout=2)
        await eventually(lambda: len(video_received) > count, timeout=5)
        assert vp8_keyframe_start(video_received[count])  # resumes on a keyframe
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
