"""Subscribers that cannot decode the publisher's codec share one transcode; everyone else gets
the original packets, and with no such subscriber nothing is decoded or encoded at all."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from media.interface import CloseReason, MediaEvent
from media.relay.room import RelayService
from media.rtp.keyframes import h264_keyframe_start
from tests.helpers import eventually
from tests.media.test_relay_forwarding import _publish, _subscribe


async def test_two_h264_only_subscribers_share_one_transcode_of_a_vp8_publication() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("transcode-1", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, sent = await _publish(room, events, "video/VP8")
        clients.append(publisher)
        browser, plain = await _subscribe(room, "browser")
        clients.append(browser)
        assert room.stats().decoders_started == 0 and room.stats().encoders_started == 0

        received = []
        for name in ("decoder-a", "decoder-b"):
            room.set_receive_codecs(name, ["video/H264", "audio/opus"])
            subscriber, got = await _subscribe(room, name)
            clients.append(subscriber)
            received.append(got)
        stats = room.stats()
        assert stats.decoders_started == 1 and stats.encoders_started == 1  # one, shared

        video_sent = sent[publisher.getTransceivers()[0].sender._ssrc]
        sent_payloads = {payload for _, _, payload in video_sent}

        def h264_arrived(got: dict[int, list[tuple[int, int, bytes]]]) -> bool:
            return any(len(p) > 5 and h264_keyframe_start(p[0][2]) for p in got.values())

        await eventually(lambda: all(h264_arrived(got) for got in received), timeout=20)
        for got in received:
            video = next(p for p in got.values() if h264_keyframe_start(p[0][2]))
            assert not {payload for _, _, payload in video} & sent_payloads  # re-encoded
        # The browser still gets the publisher's own VP8 packets.
        await eventually(lambda: any(p[0][2] in {x for _, _, x in video_sent}
                                     for p in plain.values() if p), timeout=10)

        await room.remove_participant("decoder-a", CloseReason.participant_left)
        assert len(room._transcoders) == 1  # decoder-b still needs it
        await room.remove_participant("decoder-b", CloseReason.participant_left)
        assert room._transcoders == {}
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
