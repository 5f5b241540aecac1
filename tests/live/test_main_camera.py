"""The teacher switches the main camera between the hub's cameras during a lesson: the
teaching points keep their media connection (no new offer), the relay forwards only the main
camera to them, and the recording follows it. Real aiortc peers and the real relay."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from media.interface import RecordingTrack
from server.keys import LIVE
from server.live.room import LiveRoom
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import SignalClient, join

pytestmark = pytest.mark.slow  # real peers for seconds


def _camera_of(room: LiveRoom, participant_id: str) -> str | None:
    return next((pid for pid, p in room.publications.items()
                 if p.info.participant_id == participant_id and p.info.source.value == "camera"),
                None)


async def _forwarded(room: LiveRoom, subscriber: str, publication: str) -> int:
    """Packets the relay sent `subscriber` of `publication` over half a second."""
    def count() -> int:
        stats = room.media.stats().subscriptions.get((subscriber, publication))
        return stats.packets if stats is not None else 0
    before = count()
    await asyncio.sleep(0.5)
    return count() - before


def _muted(ws: SignalClient, publication: str) -> list[bool]:
    return [m["muted"] for m in ws.events("publication.muted")
            if m["publication_id"] == publication]


@SQLITE_ONLY
async def test_the_teacher_switches_the_main_camera_without_renegotiation(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher_ws, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher_id = state["you"]["participant_id"]
    hub_ws, state = await join(live_app, world.tokens["hub_tv"], lesson_id, "hub")
    hub_id = state["you"]["participant_id"]
    pa_ws, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa_id = state["you"]["participant_id"]
    teacher, hub, pa = MediaClient(teacher_ws), MediaClient(hub_ws), MediaClient(pa_ws)
    try:
        assert (await teacher.publish(["camera"]))["type"] == "ok"
        assert (await hub.publish(["camera"]))["type"] == "ok"  # e.g. the students' camera
        teacher_cam = await eventually(lambda: _camera_of(room, teacher_id))
        students_cam = await eventually(lambda: _camera_of(room, hub_id))
        await eventually(lambda: pa.active_kinds() == ["video", "video"], timeout=20)
        for camera in (teacher_cam, students_cam):
            await eventually(lambda c=camera: _forwarded(room, pa_id, c), timeout=15)
        offers = pa.offers_answered

        # Only the host chooses, and only among the hub's cameras.
        refused = await pa_ws.error("camera.main", publication_id=students_cam)
        assert refused["code"] == "forbidden"

        # The students' camera becomes the main one: the teacher's is held for everyone.
        await teacher_ws.ok("camera.main", publication_id=students_cam)
        event = await pa_ws.event("camera.main")
        assert event["publication_id"] == students_cam
        assert _muted(pa_ws, teacher_cam) == [True]
        assert await eventually(lambda: _forwarded(room, pa_id, students_cam), timeout=10)
        await asyncio.sleep(0.3)  # packets already on their way
        assert await _forwarded(room, pa_id, teacher_cam) == 0
        assert pa.offers_answered == offers and not pa_ws.events("publication.removed")
        # A recording shows what the classrooms see.
        assert room._feeds()[RecordingTrack.camera] == students_cam

        # A classroom joining now sees the choice in the room state.
        pb_ws, state = await join(live_app, world.tokens["pb_tv"], lesson_id, "pb")
        assert state["main_camera"] == students_cam
        muted = {p["publication_id"]: p["muted"] for p in state["publications"]}
        assert muted == {teacher_cam: True, students_cam: False}

        # The teacher unmuting their own camera does not show it while another is main.
        await teacher_ws.ok("mute", publication_id=teacher_cam, muted=False)
        assert await _forwarded(room, pa_id, teacher_cam) == 0

        # Back to the teacher: the students' camera is held, the teacher's flows again.
        await teacher_ws.ok("camera.main", publication_id=teacher_cam)
        assert await eventually(lambda: _forwarded(room, pa_id, teacher_cam), timeout=10)
        assert _muted(pa_ws, students_cam) == [True] and _muted(pa_ws, teacher_cam) == [True,
                                                                                        False]
        assert pa.offers_answered == offers

        # The main camera's publisher leaves: every hub camera is shown again.
        await teacher.close()
        await teacher_ws.close()
        await pa_ws.event("camera.main", publication_id=None)
        assert _muted(pa_ws, students_cam) == [True, False]
        assert await eventually(lambda: _forwarded(room, pa_id, students_cam), timeout=10)
        await pb_ws.close()
    finally:
        for client in (teacher, hub, pa):
            await client.close()
        for ws in (teacher_ws, hub_ws, pa_ws):
            await ws.close()
