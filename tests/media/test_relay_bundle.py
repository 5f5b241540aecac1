"""Every m-line of a subscription runs on the one BUNDLE transport, whatever the order of kinds
(aiortc's default policy once left the third of [audio, video, video] unconnected)."""

from __future__ import annotations

import socket
from pathlib import Path

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.interface import MediaEvent, PublicationAdded, SourceLabel, TrackKind
from media.relay.glue import RECEIVE_BUFFER_BYTES
from media.relay.room import RelayService
from tests.helpers import eventually


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[],
                                              bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def test_audio_then_two_videos_all_start() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-bundle", events.append)
    publisher, viewer = _peer(), _peer()
    try:
        for track in (VideoStreamTrack(), AudioStreamTrack(), VideoStreamTrack()):
            publisher.addTrack(track)
        await publisher.setLocalDescription(await publisher.createOffer())
        answer = await room.publish("teacher", publisher.localDescription.sdp, {
            "0": SourceLabel.camera, "1": SourceLabel.microphone, "2": SourceLabel.screen})
        await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await eventually(lambda: sum(isinstance(e, PublicationAdded) for e in events) == 3,
                         timeout=10)
        audio = [p.publication_id for p in room.publications() if p.kind is TrackKind.audio]
        video = [p.publication_id for p in room.publications() if p.kind is TrackKind.video]

        offer = await room.subscribe("viewer", audio + video)  # m-lines: audio, video, video
        assert offer is not None
        await viewer.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await viewer.setLocalDescription(await viewer.createAnswer())
        await room.accept_answer("viewer", viewer.localDescription.sdp)

        def every_subscription_carries_packets() -> bool:
            stats = room.stats().subscriptions
            return len(stats) == 3 and all(s.packets > 0 for s in stats.values())

        await eventually(every_subscription_carries_packets, timeout=15)
    finally:
        await service.close()
        for pc in (publisher, viewer):
            await pc.close()


async def test_relay_sockets_get_a_large_receive_buffer() -> None:
    """A keyframe burst must fit while the relay is briefly descheduled (glue.py)."""
    service = RelayService()
    room = await service.open_room("bundle-rcvbuf", lambda event: None)
    publisher = _peer()
    try:
        publisher.addTrack(VideoStreamTrack())
        await publisher.setLocalDescription(await publisher.createOffer())
        await room.publish("teacher", publisher.localDescription.sdp, {"0": SourceLabel.camera})
        ice = room._publishers["teacher"].pc.getTransceivers()[0].receiver.transport.transport
        sockets = [p.transport.get_extra_info("socket") for p in ice._connection._protocols]
        cap = int(Path("/proc/sys/net/core/rmem_max").read_text())
        want = min(RECEIVE_BUFFER_BYTES, cap)  # the kernel grants up to rmem_max (doubled)
        assert sockets and all(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= want
                               for s in sockets)
    finally:
        await service.close()
        await publisher.close()
