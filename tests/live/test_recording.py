"""A recorded lesson: the relay writes the teacher's publications to disk as they are forwarded,
the teacher stops and restarts it, everyone sees the indicator, and each stopped Recording is
transcoded into a library Resource by the in-process job runner (real files throughout)."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from server.keys import LIBRARY, LIVE
from server.models import (
    Job,
    JobState,
    Lesson,
    Recording,
    RecordingState,
    Resource,
    ResourceState,
    Visibility,
)
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .media_client import MediaClient
from .world import World
from .wsclient import join

pytestmark = pytest.mark.slow


async def _recordings(db: AsyncSession, lesson_id: int) -> list[Recording]:
    db.expire_all()
    return list(await db.scalars(select(Recording).where(Recording.lesson_id == lesson_id)
                                 .order_by(Recording.id)))


@SQLITE_ONLY
async def test_a_recorded_lesson_lands_in_the_library(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    lesson = await db.get(Lesson, world["master"])
    assert lesson is not None
    lesson.record = True  # the world's lessons are not recorded; this one is
    await db.commit()
    lesson_id = await start("master")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    await eventually(lambda: room.recording, timeout=10)  # from the start, as the lesson says

    teacher_ws, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    assert state["recording"] is True
    observer_ws, state = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    assert state["recording"] is True
    teacher = MediaClient(teacher_ws)
    try:
        assert (await teacher.publish(["camera", "microphone"]))["type"] == "ok"
        [first] = await _recordings(db, lesson_id)
        folder = live_app.app[LIBRARY].path(first.directory)
        # The segment file appears once the teacher's frames reach the recorder.
        await eventually(lambda: any(p.stat().st_size > 0 for p in folder.glob("rec-*.mkv")),
                         timeout=20)
        await asyncio.sleep(3)

        # Only the host controls recording.
        refused = await observer_ws.error("recording.set", recording=False)
        assert refused["code"] == "forbidden"
        await teacher_ws.ok("recording.set", recording=False)
        await observer_ws.event("recording.changed", recording=False)
        assert not room.recording
        [first] = await _recordings(db, lesson_id)
        assert first.state is RecordingState.stopped and first.ended_at is not None
        assert [s["file"] for s in first.segments] and all(
            s["duration_s"] and s["duration_s"] > 2.5 for s in first.segments)

        # Restarting makes a second Recording of the same lesson. Courseware shared meanwhile
        # starts a second segment (a track joined), with camera and screen both in it.
        await teacher_ws.ok("recording.set", recording=True)
        await observer_ws.event("recording.changed", recording=True)
        await asyncio.sleep(2)
        assert (await teacher.publish(["screen"]))["type"] == "ok"
        [_, second] = await _recordings(db, lesson_id)
        await eventually(lambda: len(list(folder.glob(f"rec-{second.id}.*.mkv"))) == 2,
                         timeout=20)
        await asyncio.sleep(3)
    finally:
        await teacher.close()
        await teacher_ws.close()
        await observer_ws.close()
    # Ending the lesson stops it too.
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200
    recordings = await _recordings(db, lesson_id)
    assert [r.state for r in recordings] == [RecordingState.stopped] * 2
    first_id = recordings[0].id

    # Each Recording became a Resource; the job runner in this process transcodes them.
    async def ready() -> list[Resource]:
        db.expire_all()
        found = list(await db.scalars(select(Resource).where(Resource.lesson_id == lesson_id)
                                      .options(selectinload(Resource.renditions))))
        return found if len(found) == 2 and all(
            r.state is not ResourceState.processing for r in found) else []

    resources = await eventually(ready, timeout=120)
    assert [r.state for r in resources] == [ResourceState.ready] * 2, [r.error for r in resources]
    resource = next(r for r in resources if r.recording_id == first_id)
    assert resource.title == "Reading research" and resource.visibility is Visibility.county
    assert resource.teacher_id == world["teacher"] and resource.owner_id == world["teacher"]
    assert resource.duration_s is not None and 2.5 < resource.duration_s < 15
    library = live_app.app[LIBRARY]
    assert library.path(resource.poster or "").stat().st_size > 0
    assert resource.renditions
    with av.open(str(library.path(resource.renditions[0].playlist))) as played:
        frames = sum(1 for _ in played.decode(video=0))
    assert frames > 30  # seconds of the teacher's camera, as forwarded
    # The second one plays its two segments in a row, the courseware beside the camera.
    later = next(r for r in resources if r.recording_id != first_id)
    assert later.duration_s is not None and later.duration_s > 4
    with av.open(str(library.path(later.renditions[0].playlist))) as played:
        stream = played.streams.video[0]
        last = max(frame.time for frame in played.decode(stream))
        assert stream.codec_context.width > 2 * stream.codec_context.height  # side by side
    assert last > 4
    jobs = list(await db.scalars(select(Job).where(Job.subject_type == "resource")))
    assert {j.state for j in jobs} == {JobState.done}
