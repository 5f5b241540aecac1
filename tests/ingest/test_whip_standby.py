"""WHIP encoders that publish before their lesson and push all day: they connect, wait in the
standby Room, go into each lesson of their classroom by themselves (same connection, no new
offer) and wait again when it ends. Real aiortc peers; the relay forwards, nothing re-encodes.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from server.ingest.sessions import INGEST
from server.ingest.standby import STANDBY, STANDBY_ROOM
from server.keys import LIVE
from server.live.room import LiveRoom
from server.models import SourceRole
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import join

from .conftest import Encoder, SourceMaker, end_lesson, post_sdp, whip_offer

pytestmark = pytest.mark.slow  # real peers encoding and decoding for seconds


def _standby_packets(client: TestClient) -> int:
    room = client.app[LIVE].media.room(STANDBY_ROOM)
    assert room is not None
    return sum(p.packets for p in room.stats().publications.values())


def _room(client: TestClient, lesson_id: int) -> LiveRoom:
    room = client.app[LIVE].get(lesson_id)
    assert room is not None
    return room


async def _point_receives(client: TestClient, world: World, lesson_id: int,
                          encoder: Encoder) -> None:
    """Point A joins the lesson and receives the encoder's camera and microphone, forwarded."""
    ws, _ = await join(client, world.tokens["pa_tv"], lesson_id, "pa")
    media = MediaClient(ws)
    try:
        async def flowing() -> bool:
            return media.active_kinds() == ["audio", "video"] \
                and all(n > 0 for n in await media.packets())
        await eventually(flowing, timeout=20)
        room = _room(client, lesson_id)
        publishers = {room.participants[p.info.participant_id].identity
                      for p in room.publications.values()}
        assert publishers == {f"source:{encoder.source_id}"}
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0
    finally:
        await media.close()


@SQLITE_ONLY
async def test_an_encoder_pushing_all_day_goes_into_each_lesson_of_its_classroom(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker) -> None:
    standby = live_app.app[STANDBY]
    encoder = await make_source("hub", name="Hub camera")
    identity = f"source:{encoder.source_id}"
    pc = await whip_offer()
    offers = 0

    @pc.on("signalingstatechange")
    def _count() -> None:
        nonlocal offers
        offers += 1

    try:
        # No lesson yet: the encoder connects all the same and its packets reach the node.
        status, headers, answer = await post_sdp(live_app, f"/whip/{encoder.key}", pc,
                                                 encoder.key)
        assert status == 201, answer
        location = headers["Location"]
        assert standby.waiting(identity) and len(live_app.app[INGEST]) == 1
        await eventually(lambda: pc.connectionState == "connected", timeout=10)
        await eventually(lambda: _standby_packets(live_app) > 0, timeout=10)
        signalled = offers

        # The lesson starts: the encoder is in it by itself, on the same connection.
        first = await start("dedicated")
        await eventually(lambda: not standby.waiting(identity))
        await _point_receives(live_app, world, first, encoder)

        # It ends: the encoder stays connected and waits again; its session still exists.
        await end_lesson(live_app, world, first)
        await eventually(lambda: standby.waiting(identity))
        await asyncio.sleep(1.0)
        assert pc.connectionState == "connected" and len(live_app.app[INGEST]) == 1

        # The next lesson of the classroom (a broadcast this time) gets it too.
        second = await start("famous")
        await eventually(lambda: not standby.waiting(identity))
        await _point_receives(live_app, world, second, encoder)
        assert offers == signalled  # never asked to negotiate again
        assert pc.connectionState == "connected"

        # DELETE ends it for good.
        auth = {"Authorization": f"Bearer {encoder.key}"}
        async with live_app.delete(location, headers=auth) as resp:
            assert resp.status == 200
        room = _room(live_app, second)
        await eventually(lambda: room.publications == {})
        assert all(p.identity != identity for p in room.participants.values())
        assert len(live_app.app[INGEST]) == 0 and not standby.waiting(identity)
        await end_lesson(live_app, world, second)
        assert not standby.waiting(identity)
    finally:
        await pc.close()


@SQLITE_ONLY
async def test_a_waiting_encoder_can_be_stopped_replaced_or_closed(
        live_app: TestClient, make_source: SourceMaker) -> None:
    standby = live_app.app[STANDBY]
    encoder = await make_source("far")  # a classroom without lessons
    identity = f"source:{encoder.source_id}"
    auth = {"Authorization": f"Bearer {encoder.key}"}
    standby_room = live_app.app[LIVE].media.room(STANDBY_ROOM)
    assert standby_room is not None
    pcs: list[RTCPeerConnection] = []
    try:
        async def post() -> str:
            pc = await whip_offer(audio=False)
            pcs.append(pc)
            status, headers, text = await post_sdp(live_app, f"/whip/{encoder.key}", pc,
                                                   encoder.key)
            assert status == 201, text
            return headers["Location"]

        # DELETE while waiting: gone from the node and from the relay.
        location = await post()
        async with live_app.delete(location, headers=auth) as resp:
            assert resp.status == 200
        assert not standby.waiting(identity) and standby_room.publications() == []
        async with live_app.delete(location, headers=auth) as resp:
            assert resp.status == 404

        # Posting again replaces the waiting session.
        old = await post()
        new = await post()
        assert old != new and len(live_app.app[INGEST]) == 1
        async with live_app.delete(old, headers=auth) as resp:
            assert resp.status == 404
        await eventually(lambda: len(standby_room.publications()) == 1)

        # An encoder that closes its connection while waiting is forgotten.
        await pcs[-1].close()
        await eventually(lambda: len(live_app.app[INGEST]) == 0, timeout=10)
        assert not standby.waiting(identity) and standby_room.publications() == []
    finally:
        for pc in pcs:
            await pc.close()


@SQLITE_ONLY
async def test_a_waiting_encoder_the_rules_refuse_keeps_waiting(
        live_app: TestClient, start: Starter, make_source: SourceMaker) -> None:
    """A teaching point's camera may not publish in a famous-school broadcast: it stays in the
    standby Room and out of the lesson, and is still there to be stopped."""
    standby = live_app.app[STANDBY]
    encoder = await make_source("pa", role=SourceRole.students)
    identity = f"source:{encoder.source_id}"
    pc = await whip_offer(audio=False)
    try:
        status, headers, _ = await post_sdp(live_app, f"/whip/{encoder.key}", pc, encoder.key)
        assert status == 201
        lesson_id = await start("famous")
        room = _room(live_app, lesson_id)
        await asyncio.sleep(1.0)  # time for the placement it must not make
        assert standby.waiting(identity)
        assert all(p.identity != identity for p in room.participants.values())
        async with live_app.delete(headers["Location"], headers={
                "Authorization": f"Bearer {encoder.key}"}) as resp:
            assert resp.status == 200
        assert not standby.waiting(identity)
    finally:
        await pc.close()


@SQLITE_ONLY
async def test_an_encoder_never_publishes_into_a_cascade_edge(
        live_app: TestClient, start: Starter, make_source: SourceMaker) -> None:
    """A node that serves a broadcast only as a cascade's edge (its receivers' copy) is no
    place for the hub's camera: the encoder waits for a lesson held here instead."""
    standby = live_app.app[STANDBY]
    live = live_app.app[LIVE]
    lesson_id = await start("famous")
    lesson = _room(live_app, lesson_id).lesson
    await live.move_away([lesson_id], let_go=False)
    edge = await live.ensure(lesson, edge=True)
    assert live.held() == [] and live.rooms() == [edge]
    encoder = await make_source("hub")
    pc = await whip_offer(audio=False)
    try:
        status, _, text = await post_sdp(live_app, f"/whip/{encoder.key}", pc, encoder.key)
        assert status == 201, text
        await asyncio.sleep(1.0)  # time for a placement it must not make
        assert standby.waiting(f"source:{encoder.source_id}") and edge.participants == {}
    finally:
        await pc.close()
