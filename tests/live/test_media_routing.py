"""A dedicated lesson with real aiortc peers through signalling and the relay: who receives
whom follows the rules, the floor moves a point's media to everyone and back, refused
publications publish nothing, and a participant that vanishes is cleaned up."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from server.keys import LIVE
from server.live.room import LiveRoom
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .media_client import MediaClient
from .world import World
from .wsclient import join

pytestmark = pytest.mark.slow  # real peers encoding and decoding for seconds


async def _flowing(media: MediaClient, kinds: list[str]) -> bool:
    """The relay sends exactly `kinds` to `media`, and RTP arrives on every one of them."""
    if media.active_kinds() != sorted(kinds):
        return False
    before = await media.packets()
    return all(count > 0 for count in before)


def _subscriptions(room: LiveRoom, participant_id: str) -> set[str]:
    """What the relay itself forwards to a participant (publication ids)."""
    return {pub for (sub, pub) in room.media.stats().subscriptions if sub == participant_id}


@SQLITE_ONLY
async def test_a_dedicated_lesson_with_real_peers_and_the_floor(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher_id = state["you"]["participant_id"]
    pa_ws, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa_id = state["you"]["participant_id"]
    pb_ws, state = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
    pb_id = state["you"]["participant_id"]
    teacher, pa, pb = MediaClient(teacher_ws), MediaClient(pa_ws), MediaClient(pb_ws)
    clients = [teacher, pa, pb]
    try:
        assert (await teacher.publish(["camera", "microphone"]))["type"] == "ok"
        added = (await pa_ws.event("publication.added"))["publication"]
        assert added["participant_id"] == teacher_id

        # Both points get an offer for the teacher's camera and microphone, answer, receive RTP.
        for point in (pa, pb):
            await eventually(lambda p=point: _flowing(p, ["audio", "video"]), timeout=20)
        # So does an observer that joins after the teacher published.
        late_ws, _ = await join(live_app, world.tokens["observer"], lesson_id, "observer")
        late = MediaClient(late_ws)
        clients.append(late)
        await eventually(lambda: _flowing(late, ["audio", "video"]), timeout=20)
        await late_ws.close()

        # The points publish; the hub sees both cameras, the points do not see each other.
        for point in (pa, pb):
            assert (await point.publish(["camera", "microphone"]))["type"] == "ok"
        await eventually(lambda: _flowing(teacher, ["video", "video"]), timeout=20)
        by_owner = {}
        for pub in room.publications.values():
            by_owner.setdefault(pub.info.participant_id, {})[pub.info.source.value] = \
                pub.info.publication_id
        assert _subscriptions(room, pb_id) == set(by_owner[teacher_id].values())
        assert _subscriptions(room, teacher_id) == {by_owner[pa_id]["camera"],
                                                    by_owner[pb_id]["camera"]}

        # The floor to point A: point B and the hub now hear (and B sees) point A.
        await teacher_ws.ok("floor.give", participant_id=pa_id)
        await eventually(lambda: _flowing(pb, ["audio", "audio", "video", "video"]), timeout=20)
        await eventually(lambda: _flowing(teacher, ["audio", "video", "video"]), timeout=20)
        assert _subscriptions(room, pb_id) == {*by_owner[teacher_id].values(),
                                               *by_owner[pa_id].values()}
        assert by_owner[pa_id]["microphone"] in _subscriptions(room, teacher_id)
        assert pa.active_kinds() == ["audio", "video"]  # A still gets the hub only

        # Taking the floor back stops it.
        await teacher_ws.ok("floor.take")
        await eventually(lambda: pb.active_kinds() == ["audio", "video"], timeout=20)
        await eventually(lambda: teacher.active_kinds() == ["video", "video"], timeout=20)
        assert _subscriptions(room, pb_id) == set(by_owner[teacher_id].values())
        assert by_owner[pa_id]["microphone"] not in _subscriptions(room, teacher_id)

        # A point cannot publish courseware, and nothing is published when it tries.
        before = set(room.media.publications())
        refused = await pa.publish(["screen"])
        assert refused["type"] == "error" and refused["code"] == "forbidden"
        assert set(room.media.publications()) == before

        # The teacher mutes point B's microphone; everyone is told.
        await teacher_ws.ok("mute", publication_id=by_owner[pb_id]["microphone"], muted=True)
        muted = await pa_ws.event("publication.muted")
        assert muted["by"] == teacher_id and muted["muted"] is True
        assert (await pa_ws.error("mute", publication_id=by_owner[pb_id]["microphone"],
                                  muted=False))["code"] == "forbidden"
        assert (await teacher_ws.error("mute", publication_id=by_owner[pb_id]["camera"],
                                       muted=True))["code"] == "forbidden"
        # Point B cannot undo the teacher's mute; the teacher can. B's own mute is B's to undo.
        pb_mic = by_owner[pb_id]["microphone"]
        assert (await pb_ws.error("mute", publication_id=pb_mic, muted=False))["code"] \
            == "forbidden"
        assert room.publications[pb_mic].muted
        await teacher_ws.ok("mute", publication_id=pb_mic, muted=False)
        await pb_ws.ok("mute", publication_id=pb_mic, muted=True)
        await pb_ws.ok("mute", publication_id=pb_mic, muted=False)
        assert not room.publications[pb_mic].muted

        # Point B vanishes: its publications end, the others are told, the relay forgets it.
        pb_ws.ws._conn.transport.abort()  # type: ignore[union-attr]  # no close frame
        left = await teacher_ws.event("participant.left", participant_id=pb_id)
        assert left["reason"] == "disconnected"
        await eventually(lambda: set(by_owner[pb_id].values()) <= {
            m["publication_id"] for m in teacher_ws.events("publication.removed")}, timeout=5)
        await eventually(lambda: teacher.active_kinds() == ["video"], timeout=20)
        assert not any(pub.participant_id == pb_id for pub in room.media.publications())
        assert pb_id not in {sub for (sub, _) in room.media.stats().subscriptions}
        assert pb_id not in room.participants
    finally:
        for ws in (teacher_ws, pa_ws, pb_ws):
            await ws.close()
        for client in clients:
            await client.close()


@SQLITE_ONLY
async def test_the_stage_and_an_inspector_in_a_master_teacher_lesson(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("master")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher_id = state["you"]["participant_id"]
    observer_ws, state = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    observer_id = state["you"]["participant_id"]
    inspector_ws, state = await join(live_app, world.tokens["inspector"], lesson_id, "inspector")
    inspector_id = state["you"]["participant_id"]
    teacher, observer, inspector = (MediaClient(teacher_ws), MediaClient(observer_ws),
                                    MediaClient(inspector_ws))
    try:
        assert (await teacher.publish(["camera", "microphone", "screen"]))["type"] == "ok"
        await eventually(lambda: _flowing(observer, ["audio", "video", "video"]), timeout=20)
        await eventually(lambda: _flowing(inspector, ["audio", "video", "video"]), timeout=20)
        refused = await inspector.publish(["camera"])
        assert refused["code"] == "forbidden"
        refused = await observer.publish(["camera", "microphone"])
        assert refused["code"] == "forbidden"  # not on stage

        await teacher_ws.ok("stage.invite", participant_id=observer_id)
        await observer_ws.event("stage.changed", participant_ids=[observer_id])
        observer.send = None  # a fresh connection, as the page makes on going on stage
        observer.sources = {}
        assert (await observer.publish(["camera", "microphone"]))["type"] == "ok"
        await eventually(lambda: _flowing(teacher, ["audio", "video"]), timeout=20)
        await eventually(lambda: _flowing(inspector, ["audio", "audio", "video", "video",
                                                      "video"]), timeout=20)

        await teacher_ws.ok("stage.remove", participant_id=observer_id)
        await eventually(lambda: teacher.active_kinds() == [], timeout=20)
        await eventually(lambda: inspector.active_kinds() == ["audio", "video", "video"],
                         timeout=20)
        assert _subscriptions(room, teacher_id) == set()  # off stage: forwarded to nobody
        # Its Publications end on the relay too (no upstream it may not send), while it goes
        # on receiving the lesson.
        await eventually(lambda: not any(p.participant_id == observer_id
                                          for p in room.media.publications()), timeout=10)
        assert len(teacher_ws.events("publication.removed")) == 2
        assert _subscriptions(room, observer_id) == _subscriptions(room, inspector_id) - {
            p.info.publication_id for p in room.publications.values()
            if p.info.participant_id == observer_id}
        assert _subscriptions(room, inspector_id) == {
            p.info.publication_id for p in room.publications.values()
            if p.info.participant_id == teacher_id}
        # Nobody ever heard of the inspector.
        for ws in (teacher_ws, observer_ws):
            assert inspector_id not in str(ws.received)
    finally:
        for ws in (teacher_ws, observer_ws, inspector_ws):
            await ws.close()
        for client in (teacher, observer, inspector):
            await client.close()

