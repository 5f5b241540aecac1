"""Events from the media plane reach the right participants: the active speaker, a paused or
resumed video, a failed transport, a track published under the wrong label; and a lesson that
is live without a Room (the node restarted) gets one on the first join."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from media.interface import (
    ActiveSpeaker,
    CloseReason,
    TransportClosed,
    VideoPaused,
    VideoResumed,
)
from server.keys import LIVE
from server.models import Lesson, LessonStatus
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .media_client import MediaClient
from .world import World
from .wsclient import join


@SQLITE_ONLY
async def test_media_events_become_signalling_events(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher_id = state["you"]["participant_id"]
    point, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    point_id = state["you"]["participant_id"]
    inspector, state = await join(live_app, world.tokens["inspector"], lesson_id, "inspector")
    inspector_id = state["you"]["participant_id"]

    room.on_media_event(ActiveSpeaker(teacher_id, -20))
    for client in (teacher, point, inspector):
        await client.event("speaker.active", participant_id=teacher_id)
    room.on_media_event(ActiveSpeaker(inspector_id, -20))  # never named to the class
    room.on_media_event(ActiveSpeaker(None, -127))
    await point.event("speaker.active", participant_id=None)
    assert [m["participant_id"] for m in point.events("speaker.active")] == [teacher_id, None]

    room.on_media_event(VideoPaused(point_id, 90_000))
    notice = await point.event("notice", code="video_paused")
    assert notice["message"]
    room.on_media_event(VideoResumed(point_id, 900_000))
    await point.event("notice", code="video_resumed")
    room.on_media_event(TransportClosed(point_id, CloseReason.transport_failed, sending=True))
    await point.event("notice", code="transport_failed")
    assert not teacher.events("notice")
    for client in (teacher, point, inspector):
        await client.close()


@SQLITE_ONLY
async def test_a_track_under_the_wrong_label_is_not_forwarded(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    point_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    teacher = MediaClient(teacher_ws)
    try:
        reply = await teacher.publish(["microphone"])
        assert reply["type"] == "ok"
        await point_ws.event("publication.added")
        # Now an audio track labelled as a camera: the relay publishes it, the rules refuse it.
        assert teacher.send is not None
        teacher.send.addTrack(AudioStreamTrack())
        await teacher.send.setLocalDescription(await teacher.send.createOffer())
        mids = [t.mid for t in teacher.send.getTransceivers()]
        reply = await teacher_ws.request("publish", sdp=teacher.send.localDescription.sdp,
                                         sources={mids[0]: "microphone", mids[1]: "camera"})
        assert reply["type"] == "ok"
        notice = await teacher_ws.event("notice", code="publication_refused")
        assert "camera" in notice["message"]
        assert len(room.media.publications()) == 2 and len(room.publications) == 1
        assert len(point_ws.events("publication.added")) == 1
    finally:
        for ws in (teacher_ws, point_ws):
            await ws.close()
        await teacher.close()


@SQLITE_ONLY
async def test_a_live_lesson_without_a_room_gets_one_on_join(
        live_app: TestClient, world: World, db: AsyncSession) -> None:
    lesson_id = world["famous"]
    await db.execute(update(Lesson).where(Lesson.id == lesson_id)
                     .values(status=LessonStatus.live))
    await db.commit()
    assert live_app.app[LIVE].get(lesson_id) is None
    client, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    assert state["kind"] == "famous_school"
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None and room.media is live_app.app[LIVE].media.room(f"lesson-{lesson_id}")
    await eventually(lambda: len(room.participants) == 1)
    await client.close()
