"""WHIP with real peers: an aiortc encoder publishes into a running dedicated lesson over plain
HTTP, a teaching point on /ws receives its packets forwarded (nothing decoded or encoded), and
DELETE ends the publication for everyone."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCSessionDescription

from server.ingest.sessions import INGEST
from server.keys import LIVE
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import join

from .conftest import SDP, SourceMaker, post_sdp, sdp_headers, whip_offer

pytestmark = pytest.mark.slow  # real peers encoding and decoding for seconds


async def _flowing(media: MediaClient, kinds: list[str]) -> bool:
    if media.active_kinds() != sorted(kinds):
        return False
    return all(count > 0 for count in await media.packets())


@SQLITE_ONLY
async def test_an_encoder_publishes_into_a_dedicated_lesson_and_a_point_receives_it(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    encoder = await make_source("hub", name="Hub camera")
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa = MediaClient(pa_ws)
    pc = await whip_offer()
    try:
        status, headers, answer = await post_sdp(live_app, f"/whip/{encoder.key}", pc,
                                                 encoder.key)
        assert status == 201, answer
        assert headers["Content-Type"].startswith(SDP) and answer.startswith("v=0")
        location = headers["Location"]
        assert location.startswith(f"/whip/{encoder.key}/") and headers["ETag"].startswith('"')
        assert headers["Access-Control-Allow-Origin"] == "*"

        # The encoder is a participant of the hub classroom, publishing camera and microphone.
        joined = (await pa_ws.event("participant.joined"))["participant"]
        assert joined["name"] == "Hub camera" and joined["role"] == "host_classroom"
        assert joined["classroom"] == "Hub School · hub"
        source_id = joined["participant_id"]
        await eventually(lambda: len(pa_ws.events("publication.added")) == 2)
        sources = {e["publication"]["source"] for e in pa_ws.events("publication.added")}
        assert sources == {"camera", "microphone"}
        assert room.participants[source_id].identity == f"source:{encoder.source_id}"

        # The point receives both, forwarded: packets arrive, no decoder or encoder ran.
        await eventually(lambda: _flowing(pa, ["audio", "video"]), timeout=20)
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0
        assert all(s.packets > 0 for s in stats.publications.values())
        assert room.participants[source_id].subscribed == frozenset()  # receives nothing

        # DELETE ends the publication: the point is told, the relay forgets it.
        auth = {"Authorization": f"Bearer {encoder.key}"}
        async with live_app.delete(location, headers=auth) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        await pa_ws.event("participant.left", participant_id=source_id)
        assert len(pa_ws.events("publication.removed")) == 2
        assert room.publications == {} and room.media.publications() == []
        assert source_id not in room.participants and len(live_app.app[INGEST]) == 0
        async with live_app.delete(location, headers=auth) as resp:
            assert resp.status == 404
    finally:
        await pa.close()
        await pc.close()


@SQLITE_ONLY
async def test_the_same_encoder_publishing_again_replaces_its_session(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker) -> None:
    """An encoder that lost its connection simply POSTs again; the old session goes. One that
    closes its connection without a DELETE leaves the lesson all the same."""
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    encoder = await make_source("pa", name="Point A camera")
    first, second = await whip_offer(audio=False), await whip_offer(audio=False)
    try:
        status, headers, _ = await post_sdp(live_app, f"/whip/{encoder.key}", first, encoder.key)
        assert status == 201
        status, again, _ = await post_sdp(live_app, f"/whip/{encoder.key}", second, encoder.key)
        assert status == 201 and again["Location"] != headers["Location"]
        identities = [p.identity for p in room.participants.values()]
        assert identities == [f"source:{encoder.source_id}"]
        assert [p.role.value for p in room.participants.values()] == ["receiving_classroom"]
        await eventually(lambda: len(room.publications) == 1)
        async with live_app.delete(headers["Location"],
                                   headers={"Authorization": f"Bearer {encoder.key}"}) as resp:
            assert resp.status == 404  # the replaced session is gone
        assert len(live_app.app[INGEST]) == 1

        # An encoder that stops without DELETE (it closes its connection) leaves the lesson.
        await second.close()
        await eventually(lambda: room.participants == {} and len(live_app.app[INGEST]) == 0)
        assert room.publications == {} and room.media.publications() == []
    finally:
        await first.close()
        await second.close()


@SQLITE_ONLY
async def test_an_encoder_that_would_trickle_connects_without_patch(
        live_app: TestClient, start: Starter, make_source: SourceMaker) -> None:
    """PATCH is refused (405), yet an offer without candidates, as a trickling client sends
    it, still connects: the relay learns the encoder's address from its ICE checks."""
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    encoder = await make_source("hub")
    pc = await whip_offer()
    try:
        offer = "".join(line + "\r\n" for line in pc.localDescription.sdp.splitlines()
                        if not line.startswith(("a=candidate", "a=end-of-candidates")))
        async with live_app.post(f"/whip/{encoder.key}", data=offer,
                                 headers=sdp_headers(encoder.key)) as resp:
            assert resp.status == 201
            answer = await resp.text()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await eventually(lambda: len(room.media.publications()) == 2 and all(
            s.packets > 0 for s in room.media.stats().publications.values()), timeout=20)
    finally:
        await pc.close()
