"""A relay pulling another relay's Publications (a cascaded lesson's edge node and its origin):
the edge offers receive-only m-lines, the origin answers them as it answers a WHEP player, and
what arrives becomes the edge's own Publications, forwarded to its subscribers as they are.
Keyframe requests cross the link: a subscriber that joins the edge late still gets a picture.
Courseware shown later reaches the edge on the link's own m-line, with no renegotiation."""

from __future__ import annotations

from collections import defaultdict

import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from media.interface import MediaError, MediaEvent, PublicationAdded, SourceLabel, TrackKind
from media.relay.room import RelayService
from tests.helpers import eventually

from .test_relay_player import Captured, _capture, _of, _peer, _publish

pytestmark = pytest.mark.slow  # real peers for a few seconds


async def test_an_edge_relay_pulls_the_origins_publications_and_forwards_them() -> None:
    origin_events: list[MediaEvent] = []
    edge_events: list[MediaEvent] = []
    service = RelayService()
    origin = await service.open_room("origin", origin_events.append)
    edge = await service.open_room("edge", edge_events.append)
    clients = []
    try:
        clients.append(await _publish(origin, origin_events, "teacher"))
        offer = await edge.pull("origin-link", [SourceLabel.camera, SourceLabel.screen,
                                                SourceLabel.microphone])
        assert offer.count("a=recvonly") == 3
        with pytest.raises(MediaError):
            await edge.pull("origin-link", [SourceLabel.camera])  # one pull per participant
        ids = [p.publication_id for p in _of(origin, "teacher")]
        answer = await origin.subscribe_answer("edge-link", offer, ids)
        await edge.pull_answer("origin-link", answer)
        # The courseware m-line stays silent (nothing shown): no Publication for it here.
        await eventually(lambda: len(_of(edge, "origin-link")) == 2, timeout=10)
        pulled = {p.kind: p for p in _of(edge, "origin-link")}
        assert pulled[TrackKind.video].source is SourceLabel.camera
        assert pulled[TrackKind.audio].source is SourceLabel.microphone
        assert sum(isinstance(e, PublicationAdded) for e in edge_events) == 2

        # A subscriber of the edge receives the teacher's packets, payloads unchanged.
        subscriber = _peer()
        clients.append(subscriber)
        edge_offer = await edge.subscribe("pupil", [p.publication_id for p in pulled.values()])
        assert edge_offer is not None
        await subscriber.setRemoteDescription(RTCSessionDescription(sdp=edge_offer, type="offer"))
        await subscriber.setLocalDescription(await subscriber.createAnswer())
        await edge.accept_answer("pupil", subscriber.localDescription.sdp)
        received: Captured = defaultdict(list)
        _capture(subscriber, received)
        # And a player on the origin itself, to compare with.
        direct = _peer()
        clients.append(direct)
        for kind in ("video", "audio"):
            direct.addTransceiver(kind, direction="recvonly")
        await direct.setLocalDescription(await direct.createOffer())
        direct_answer = await origin.subscribe_answer("direct", direct.localDescription.sdp, ids)
        await direct.setRemoteDescription(RTCSessionDescription(sdp=direct_answer,
                                                                type="answer"))
        seen: Captured = defaultdict(list)
        _capture(direct, seen)
        await eventually(lambda: sum(len(v) for v in received.values()) > 100
                         and sum(len(v) for v in seen.values()) > 100, timeout=20)
        through_edge = {payload for packets in received.values() for *_, payload in packets
                        if len(payload) > 20}
        at_origin = {payload for packets in seen.values() for *_, payload in packets}
        # The same payloads (distinct ones; still pictures repeat): forwarded as they are.
        common = len(through_edge & at_origin)
        assert common >= 10 and common >= 0.5 * len(through_edge), (common, len(through_edge))
        # It decodes: the first video packets it got include a keyframe the origin's publisher
        # made when the edge asked (the edge joined long after the publisher's first one).
        assert origin.stats().publications[ids[0]].keyframes_requested >= 1
        for room in (origin, edge):
            stats = room.stats()
            assert stats.decoders_started == 0 and stats.encoders_started == 0
        with pytest.raises(MediaError):
            await edge.pull_answer("nobody", answer)

        # The teacher shows courseware: the origin puts it on the link's second video m-line
        # and the edge announces it at its first packet.
        screen = _peer()
        clients.append(screen)
        screen.addTrack(VideoStreamTrack())
        await screen.setLocalDescription(await screen.createOffer())
        screen_answer = await origin.publish("teacher-screen", screen.localDescription.sdp,
                                             {"0": SourceLabel.screen})
        await screen.setRemoteDescription(RTCSessionDescription(sdp=screen_answer,
                                                                type="answer"))
        await eventually(lambda: len(_of(origin, "teacher-screen")) == 1, timeout=10)
        shown = _of(origin, "teacher-screen")[0].publication_id
        assert await origin.subscribe("edge-link", [*ids, shown]) is None  # no renegotiation
        await eventually(lambda: len(_of(edge, "origin-link")) == 3, timeout=10)
        assert {p.source for p in _of(edge, "origin-link")} == {
            SourceLabel.camera, SourceLabel.screen, SourceLabel.microphone}
    finally:
        for pc in clients:
            await pc.close()
        await service.close()
