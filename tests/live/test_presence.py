"""Where the linked classrooms are, as the teacher's console shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.live.presence import ClassroomState, classroom_state
from server.models import Terminal, utcnow
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .world import World
from .wsclient import join

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_a_classroom_is_in_the_lesson_reconnecting_waiting_or_offline() -> None:
    s = timedelta(seconds=1)
    assert classroom_state("pa", ["pa"], {}, None, NOW) is ClassroomState.in_lesson
    assert classroom_state("pa", [], {"pa": NOW - 20 * s}, NOW - 20 * s, NOW) \
        is ClassroomState.reconnecting
    assert classroom_state("pa", [], {"pa": NOW - 90 * s}, NOW - 10 * s, NOW) \
        is ClassroomState.waiting  # gave up reconnecting, but its kiosk is polling again
    assert classroom_state("pa", [], {}, NOW - 10 * s, NOW) is ClassroomState.waiting
    assert classroom_state("pa", [], {}, NOW - 45 * s, NOW) is ClassroomState.offline
    assert classroom_state("pa", [], {}, None, NOW) is ClassroomState.offline


@SQLITE_ONLY
async def test_the_console_learns_where_its_classrooms_are(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    lesson_id = await start("dedicated")
    teacher = {"Authorization": f"Bearer {world.tokens['teacher']}"}

    async def states() -> dict[str, str]:
        async with live_app.get(f"/lessons/{lesson_id}/classrooms.json", headers=teacher) as r:
            assert r.status == 200, await r.text()
            return {c["label"]: c["state"] for c in (await r.json())["classrooms"]}

    terminal = await db.get(Terminal, world["pb_tv"])
    assert terminal is not None
    terminal.last_seen_at = utcnow()  # its kiosk just asked for its next lesson
    await db.commit()
    assert await states() == {"Point A · pa": "offline", "Point B · pb": "waiting"}
    pa, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    assert (await states())["Point A · pa"] == "in_lesson"
    pa.ws._conn.transport.abort()  # type: ignore[union-attr]  # the network drops
    await pa.closed()
    async def reconnecting() -> bool:
        return (await states())["Point A · pa"] == "reconnecting"
    await eventually(reconnecting, timeout=10)
    # Another user may not ask.
    async with live_app.get(f"/lessons/{lesson_id}/classrooms.json", headers={
            "Authorization": f"Bearer {world.tokens['teacher2']}"}) as r:
        assert r.status in (403, 404)
