"""A player that makes its own receive-only offer (WHEP): the relay answers, forwards without
decoding, and switches an m-line to a new Publication when the old one is replaced."""

from __future__ import annotations

from collections import defaultdict

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media.interface import (
    CloseReason,
    MediaError,
    MediaEvent,
    PublicationAdded,
    PublicationInfo,
    SourceLabel,
)
from media.relay.room import RelayRoom, RelayService
from media.rtp.header import read_header
from tests.helpers import eventually

Captured = dict[int, list[tuple[int, int, bytes]]]  # ssrc -> [(payload type, seq, payload)]

pytestmark = pytest.mark.slow  # real peers for a few seconds


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def _publish(room: RelayRoom, events: list[MediaEvent], name: str,
                   video_codec: str = "video/VP8") -> RTCPeerConnection:
    publisher = _peer()
    publisher.addTrack(VideoStreamTrack())
    publisher.addTrack(AudioStreamTrack())
    publisher.getTransceivers()[0].setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs
         if c.mimeType.lower() in (video_codec.lower(), "video/rtx")])
    await publisher.setLocalDescription(await publisher.createOffer())
    before = sum(isinstance(e, PublicationAdded) for e in events)
    answer = await room.publish(name, publisher.localDescription.sdp,
                                {"0": SourceLabel.camera, "1": SourceLabel.microphone})
    await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await eventually(lambda: sum(isinstance(e, PublicationAdded) for e in events) == before + 2,
                     timeout=10)
    return publisher


def _of(room: RelayRoom, participant_id: str) -> list[PublicationInfo]:
    return [p for p in room.publications() if p.participant_id == participant_id]


async def _player(kinds: list[str]) -> tuple[RTCPeerConnection, Captured]:
    player = _peer()
    for kind in kinds:
        player.addTransceiver(kind, direction="recvonly")
    await player.setLocalDescription(await player.createOffer())
    received: Captured = defaultdict(list)
    return player, received


def _capture(player: RTCPeerConnection, into: Captured) -> None:
    dtls = player.getTransceivers()[0].receiver.transport
    original = dtls._handle_rtp_data

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        header = read_header(data)
        into[header.ssrc].append((header.payload_type, header.sequence_number,
                                  data[header.payload_at:]))
        await original(data, arrival_time_ms)

    dtls._handle_rtp_data = handle


async def test_a_player_gets_the_publications_and_keeps_its_m_lines_across_a_replacement(
) -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("player-1", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        clients.append(await _publish(room, events, "teacher"))
        player, received = await _player(["video", "audio"])
        clients.append(player)
        ids = [p.publication_id for p in _of(room, "teacher")]
        answer = await room.subscribe_answer("player", player.localDescription.sdp, ids)
        assert "a=sendonly" in answer and "a=recvonly" not in answer
        await player.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        _capture(player, received)

        await eventually(lambda: len(received) == 2
                         and min(len(v) for v in received.values()) > 20, timeout=15)
        assert set(room.stats().subscriptions) == {("player", p) for p in ids}
        ssrcs = set(received)

        # The teacher's page reconnects: new Publications, the same m-lines, no renegotiation.
        await room.unpublish("teacher", CloseReason.requested)
        assert room.stats().subscriptions == {}
        clients.append(await _publish(room, events, "teacher-again"))
        new_ids = [p.publication_id for p in _of(room, "teacher-again")]
        assert await room.subscribe("player", new_ids) is None
        counts = {ssrc: len(packets) for ssrc, packets in received.items()}
        await eventually(lambda: all(len(received[s]) > counts[s] + 20 for s in ssrcs),
                         timeout=15)
        assert set(received) == ssrcs  # still the same two streams to the player
        for packets in received.values():  # numbering goes on without a jump
            seqs = [seq for _, seq, _ in packets]
            assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False))
        assert set(room.stats().subscriptions) == {("player", p) for p in new_ids}
        assert room.stats().decoders_started == 0 and room.stats().encoders_started == 0
        assert {t.currentDirection for t in player.getTransceivers()} == {"recvonly"}
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


async def test_a_player_that_came_first_is_fed_when_the_teacher_publishes() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("player-4", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        player, received = await _player(["video", "audio"])
        clients.append(player)
        answer = await room.subscribe_answer("player", player.localDescription.sdp, [])
        await player.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        _capture(player, received)
        await eventually(lambda: player.connectionState == "connected", timeout=10)
        clients.append(await _publish(room, events, "teacher"))
        ids = [p.publication_id for p in _of(room, "teacher")]
        assert await room.subscribe("player", ids) is None
        await eventually(lambda: len(received) == 2
                         and min(len(v) for v in received.values()) > 20, timeout=15)
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


async def test_an_m_line_in_another_codec_gets_a_shared_transcode() -> None:
    """A player offering H.264 only still gets a VP8 camera, through one transcode."""
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("player-2", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        clients.append(await _publish(room, events, "teacher"))
        player, received = await _player(["video"])
        clients.append(player)
        player.getTransceivers()[0].setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs
             if c.mimeType.lower() in ("video/h264", "video/rtx")])
        await player.setLocalDescription(await player.createOffer())
        video = next(p for p in _of(room, "teacher") if p.kind == "video")
        answer = await room.subscribe_answer("player", player.localDescription.sdp,
                                             [video.publication_id])
        assert "H264" in answer and "VP8" not in answer
        await player.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        _capture(player, received)
        await eventually(lambda: sum(len(v) for v in received.values()) > 20, timeout=20)
        assert room.stats().decoders_started == 1 and room.stats().encoders_started == 1
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


@pytest.mark.parametrize("directions", [["sendonly"], ["inactive"]])
async def test_an_offer_that_receives_nothing_is_refused(directions: list[str]) -> None:
    service = RelayService()
    room = await service.open_room("player-3", lambda event: None)
    player = _peer()
    try:
        for direction in directions:
            player.addTransceiver("video", direction=direction)
        await player.setLocalDescription(await player.createOffer())
        with pytest.raises(MediaError) as err:
            await room.subscribe_answer("player", player.localDescription.sdp, [])
        assert err.value.code == "bad_sdp"
        assert room.stats().subscriptions == {} and "player" not in room._subscribers
    finally:
        await service.close()
        await player.close()
