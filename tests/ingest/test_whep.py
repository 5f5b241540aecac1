"""WHEP with real peers: an aiortc player posts a receive-only offer and gets the teacher's
camera, courseware and microphone forwarded (nothing decoded or encoded); when the teacher's
page reconnects with new Publications, the player keeps receiving on the same m-lines."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from server.ingest.sessions import INGEST
from server.keys import LIVE
from server.live.room import LiveRoom
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import join

from .conftest import post_sdp, received_packets, whep_offer

pytestmark = pytest.mark.slow  # real peers encoding and decoding for seconds


def _player_id(room: LiveRoom) -> str:
    return next(p.participant_id for p in room.participants.values()
                if p.identity.startswith("whep:"))


def _fed_by(room: LiveRoom, participant_id: str) -> set[str]:
    return {pub for (sub, pub) in room.media.stats().subscriptions if sub == participant_id}


async def _growing(pc: RTCPeerConnection, since: list[int], by: int = 10) -> bool:
    now = await received_packets(pc)
    return len(now) == len(since) and all(n >= s + by for n, s in zip(now, since, strict=True))


@SQLITE_ONLY
async def test_a_player_receives_the_main_programme_across_a_teacher_reconnect(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher = MediaClient(teacher_ws)
    player = await whep_offer(("video", "audio", "video"))  # camera, microphone, courseware
    again: MediaClient | None = None
    try:
        assert (await teacher.publish(["camera", "microphone", "screen"]))["type"] == "ok"
        await eventually(lambda: len(room.publications) == 3)

        status, headers, answer = await post_sdp(live_app, f"/whep/{lesson_id}", player,
                                                 world.tokens["pa_tv"])
        assert status == 201, answer
        assert headers["Location"].startswith(f"/whep/{lesson_id}/") and headers["ETag"]
        player_id = _player_id(room)
        assert room.participants[player_id].role.value == "receiving_classroom"
        assert _fed_by(room, player_id) == set(room.publications)
        await eventually(lambda: _growing(player, [0, 0, 0]), timeout=20)
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0

        # The teacher's page reconnects: the old Publications end, new ones come.
        await teacher.close()
        await teacher_ws.close()
        await eventually(lambda: room.publications == {})
        again_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher again")
        again = MediaClient(again_ws)
        assert (await again.publish(["camera", "microphone", "screen"]))["type"] == "ok"
        await eventually(lambda: len(room.publications) == 3
                         and _fed_by(room, player_id) == set(room.publications))
        before = await received_packets(player)
        await eventually(lambda: _growing(player, before), timeout=20)
        assert {t.currentDirection for t in player.getTransceivers()} == {"recvonly"}

        async with live_app.delete(headers["Location"], headers={
                "Authorization": f"Bearer {world.tokens['pa_tv']}"}) as resp:
            assert resp.status == 200
        assert player_id not in room.participants and len(live_app.app[INGEST]) == 0
        assert _fed_by(room, player_id) == set()
    finally:
        for client in (teacher, again):
            if client is not None:
                await client.close()
        await player.close()


@SQLITE_ONLY
async def test_a_player_can_name_one_publication(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("famous")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher = MediaClient(teacher_ws)
    player = await whep_offer(("video",))
    try:
        assert (await teacher.publish(["camera", "screen"]))["type"] == "ok"
        await eventually(lambda: len(room.publications) == 2)
        screen = next(p.info.publication_id for p in room.publications.values()
                      if p.info.source.value == "screen")
        status, _, answer = await post_sdp(live_app, f"/whep/{lesson_id}?publication={screen}",
                                           player, world.tokens["observer"])
        assert status == 201, answer
        assert _fed_by(room, _player_id(room)) == {screen}
        await eventually(lambda: _growing(player, [0]), timeout=20)

        # A player that stops without DELETE (it closes its connection) leaves the lesson.
        await player.close()
        await eventually(lambda: len(live_app.app[INGEST]) == 0 and all(
            not p.identity.startswith("whep:") for p in room.participants.values()))
        assert {sub for sub, _ in room.media.stats().subscriptions} <= set(room.participants)
    finally:
        await teacher.close()
        await player.close()
