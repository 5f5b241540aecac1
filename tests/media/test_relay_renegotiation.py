"""A Publication that ends makes the subscriber's next `subscribe` renegotiate, even when the
set it asks for equals what the relay still forwards (its m-line must go inactive)."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from media.interface import (
    CloseReason,
    MediaEvent,
    PublicationAdded,
    PublicationRemoved,
    SourceLabel,
)
from media.relay.room import RelayRoom, RelayService
from tests.helpers import eventually


def _peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def _publish(room: RelayRoom, who: str, events: list[MediaEvent]) -> RTCPeerConnection:
    pc = _peer()
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    answer = await room.publish(who, pc.localDescription.sdp, {"0": SourceLabel.camera})
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await eventually(lambda: any(isinstance(e, PublicationAdded)
                                 and e.publication.participant_id == who for e in events),
                     timeout=10)
    return pc


async def _answer(room: RelayRoom, pc: RTCPeerConnection, offer: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await room.accept_answer("viewer", pc.localDescription.sdp)


async def test_an_ended_publication_is_renegotiated_away() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-renegotiation", events.append)
    peers = []
    try:
        peers.append(await _publish(room, "a", events))
        peers.append(await _publish(room, "b", events))
        ids = {p.participant_id: p.publication_id for p in room.publications()}
        viewer = _peer()
        peers.append(viewer)
        offer = await room.subscribe("viewer", [ids["a"], ids["b"]])
        assert offer is not None
        await _answer(room, viewer, offer)
        assert await room.subscribe("viewer", [ids["a"], ids["b"]]) is None  # nothing changed

        await room.remove_participant("a", CloseReason.participant_left)
        offer = await room.subscribe("viewer", [ids["b"]])
        assert offer is not None  # a's m-line must be told to go inactive
        await _answer(room, viewer, offer)
        directions = sorted(t.currentDirection or "" for t in viewer.getTransceivers())
        assert directions == ["inactive", "recvonly"]
        assert await room.subscribe("viewer", [ids["b"]]) is None
    finally:
        await service.close()
        for pc in peers:
            await pc.close()


async def test_transports_closed_under_the_relay_are_made_afresh() -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("lesson-closed-under", events.append)
    peers = []
    try:
        peers.append(await _publish(room, "a", events))
        first = room.publications()[0].publication_id
        viewer = _peer()
        peers.append(viewer)
        offer = await room.subscribe("viewer", [first])
        assert offer is not None
        await _answer(room, viewer, offer)
        # Both of the relay's Transports close without the room asking (as when aiortc gives
        # up on a peer): the next publish and subscribe start new ones instead of failing.
        await room._subscribers["viewer"].pc.close()
        await room._publishers["a"].pc.close()
        again = _peer()
        peers.append(again)
        again.addTrack(VideoStreamTrack())
        await again.setLocalDescription(await again.createOffer())
        answer = await room.publish("a", again.localDescription.sdp, {"0": SourceLabel.camera})
        await again.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await eventually(lambda: [p.publication_id for p in room.publications()] not in ([], [first]),
                         timeout=10)
        removed = [e for e in events if isinstance(e, PublicationRemoved)]
        assert [e.publication_id for e in removed] == [first]
        offer = await room.subscribe("viewer", [p.publication_id for p in room.publications()])
        assert offer is not None and "m=video" in offer
        assert room._subscribers["viewer"].pc.connectionState != "closed"
    finally:
        await service.close()
        for pc in peers:
            await pc.close()
