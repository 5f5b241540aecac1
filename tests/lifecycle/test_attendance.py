"""Attendance from real /ws joins and leaves (SQLite and PostgreSQL), link quality from a real
relay's statistics, and the pure parts: readings, minutes, grades, connected time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from media.interface import RoomStats, TrackStats
from server.database import session_factory
from server.keys import ATTENDANCE, LIVE
from server.lifecycle.attendance import AttendanceLog, who
from server.lifecycle.quality import Grade, Minute, Reading, grade, readings
from server.lifecycle.report import AttendeeReport, Stretch, closed_stretches, connected_seconds
from server.live.participant import Participant
from server.live.rules import ParticipantRole
from server.models import Attendance, LinkSample, Source, SourceKind
from server.signalling.codes import LeaveReason
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.world import World, build_world
from tests.live.wsclient import join

from .conftest import Clock


async def _rows(db: AsyncSession, lesson_id: int) -> list[Attendance]:
    db.expire_all()
    return list(await db.scalars(select(Attendance).where(Attendance.lesson_id == lesson_id)
                                 .order_by(Attendance.id)))


async def test_joins_reconnects_and_leaves_are_recorded(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        clock: Clock) -> None:
    app = live_app.app
    lesson_id = await start("dedicated")
    room = app[LIVE].get(lesson_id)
    assert room is not None
    t0 = clock.now
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    pa_ws, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    first_pa = state["you"]["participant_id"]

    clock.now = t0 + timedelta(minutes=5)  # the point's network drops; it comes back
    await pa_ws.close()
    await eventually(lambda: first_pa not in room.participants)
    clock.now = t0 + timedelta(minutes=6)
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    observer_ws, _ = await join(live_app, world.tokens["observer"], lesson_id, "observer")
    await observer_ws.ok("leave")
    await observer_ws.close()

    clock.now = t0 + timedelta(minutes=40)
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200
    await app[ATTENDANCE].write()

    rows = await _rows(db, lesson_id)
    assert [(r.role, r.classroom_id, r.user_id, r.leave_reason) for r in rows] == [
        ("host", None, world["teacher"], "lesson_ended"),
        ("receiving_classroom", world["pa"], None, "disconnected"),
        ("receiving_classroom", world["pa"], None, "lesson_ended"),
        ("observer", None, world["observer"], "left"),
    ]
    assert [r.terminal_id for r in rows] == [None, world["pa_tv"], world["pa_tv"], None]
    assert rows[1].participant_id == first_pa
    assert rows[1].identity == f"terminal:{world['pa_tv']}"
    assert [(r.joined_at - t0, r.left_at - t0) for r in rows if r.left_at] == [
        (timedelta(0), timedelta(minutes=40)), (timedelta(0), timedelta(minutes=5)),
        (timedelta(minutes=6), timedelta(minutes=40)), (timedelta(minutes=6), timedelta(minutes=6))]

    # The report reads them back: two stretches, one reconnect, 39 minutes for the point.
    async with live_app.get(f"/lessons/{lesson_id}/report", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200
        html = await resp.text()
    assert "Point A · pa" in html and "Point B · pb" in html and "Hub School · hub" in html
    assert "未进入课堂" in html  # point B never came
    await teacher_ws.close()


async def test_an_encoder_counts_for_its_classroom_and_a_player_by_name(
        engine: AsyncEngine, db: AsyncSession) -> None:
    """WHIP encoders join as `source:N` (their classroom is there); WHEP players keep a name."""
    world = await build_world(db)
    source = Source(classroom_id=world["pa"], name="camera", kind=SourceKind.whip)
    db.add(source)
    await db.commit()
    log = AttendanceLog(session_factory(engine))

    class Outbox:
        def send(self, message: object) -> None: ...

        def close(self, code: object, reason: object) -> None: ...

    lesson_id = world["dedicated"]
    encoder = Participant(f"source:{source.id}", "camera", ParticipantRole.receiving_classroom,
                          "Point A · pa", Outbox())
    player = Participant("whep:r-1", "Observer (WHEP)", ParticipantRole.observer, None, Outbox())
    log.joined(lesson_id, encoder)
    log.joined(lesson_id, player)
    log.left(lesson_id, encoder, LeaveReason.left)
    await log.close()
    rows = await _rows(db, lesson_id)
    assert [(r.classroom_id, r.terminal_id, r.user_id, r.name, r.leave_reason) for r in rows] == [
        (world["pa"], None, None, "camera", "left"),
        (None, None, None, "Observer (WHEP)", None)]
    assert who("terminal:3") == ("terminal", 3) and who("whep:r-1") is None
    assert who("user:x") is None


@SQLITE_ONLY
@pytest.mark.slow
async def test_link_quality_is_sampled_from_the_relay(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession) -> None:
    """The teacher publishes, a point receives; the relay's counters become minute rows."""
    from tests.live.media_client import MediaClient

    app = live_app.app
    attendance = app[ATTENDANCE]
    lesson_id = await start("dedicated")
    teacher_ws, state = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    teacher_id = state["you"]["participant_id"]
    pa_ws, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa_id = state["you"]["participant_id"]
    teacher, pa = MediaClient(teacher_ws), MediaClient(pa_ws)
    try:
        assert (await teacher.publish(["camera", "microphone"]))["type"] == "ok"

        async def flowing() -> bool:
            return len(await pa.packets()) == 2 and min(await pa.packets()) > 20
        await eventually(flowing, timeout=20)
        for _ in range(3):  # as the app's loop does every few seconds
            attendance.sample()
            await asyncio.sleep(1.0)
        attendance.sample()
    finally:
        await teacher.close()
        await pa.close()
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200
    await attendance.write()

    db.expire_all()
    samples = {s.participant_id: s for s in await db.scalars(
        select(LinkSample).where(LinkSample.lesson_id == lesson_id))}
    assert samples[pa_id].down_kbps > 10 and samples[pa_id].samples >= 1
    assert samples[teacher_id].up_kbps > 10
    assert samples[pa_id].loss_pct is not None and samples[pa_id].loss_pct < 5

    async with live_app.get(f"/lessons/{lesson_id}/report", headers={
            "Authorization": f"Bearer {world.tokens['admin']}"}) as resp:
        assert resp.status == 200
        html = await resp.text()
    assert '<svg class="chart"' in html and '<svg class="strip"' in html


async def test_a_terminals_own_reports_give_frame_rate_and_freezes(
        live_app: TestClient, world: World, start: Starter, db: AsyncSession,
        clock: Clock) -> None:
    """`stats.report` from a classroom terminal: its frame rate and freezes land in the
    minute's LinkSample and in the report; a report out of range is refused."""
    app = live_app.app
    lesson_id = await start("dedicated")
    pa_ws, state = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa_id = state["you"]["participant_id"]
    first = clock.now.replace(second=5, microsecond=0)
    clock.now = first
    await pa_ws.ok("stats.report", fps=24.0, freezes=0, freeze_ms=0)
    await pa_ws.ok("stats.report", fps=12.0, freezes=2, freeze_ms=900)
    clock.now = first + timedelta(minutes=1)
    await pa_ws.ok("stats.report", fps=25.0)
    for bad in ({"fps": -1}, {"freezes": 5000}, {"freeze_ms": "a lot"}):
        assert (await pa_ws.error("stats.report", **bad))["code"] == "invalid", bad
    async with live_app.post(f"/api/v1/lessons/{lesson_id}/end", headers={
            "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
        assert resp.status == 200
    await app[ATTENDANCE].write()

    db.expire_all()
    samples = list(await db.scalars(select(LinkSample).where(
        LinkSample.lesson_id == lesson_id, LinkSample.participant_id == pa_id)
        .order_by(LinkSample.minute)))
    assert [(s.fps, s.freezes, s.freeze_ms) for s in samples] == [(18.0, 2, 900), (25.0, 0, 0)]

    async with live_app.get(f"/lessons/{lesson_id}/report", headers={
            "Authorization": f"Bearer {world.tokens['admin']}"}) as resp:
        html = await resp.text()
    assert "画面帧率" in html and "卡顿次数" in html
    row = html[html.index("Point A · pa"):]
    assert '<td class="number">2</td>' in row[:row.index("</tr>")]  # its two freezes


# Pure ------------------------------------------------------------------------------------------


def _track(packets: int, lost: int = 0, size: int = 1000, rtt: float | None = None,
           jitter: float | None = None) -> TrackStats:
    return TrackStats(packets=packets, bytes=packets * size, packets_lost=lost, rtt_ms=rtt,
                      jitter_ms=jitter)


def test_readings_are_differences_per_participant() -> None:
    before = RoomStats(publications={"cam": _track(100)},
                       subscriptions={("pa", "cam"): _track(90, 1, rtt=40.0, jitter=5.0),
                                      ("pb", "cam"): _track(90, 0)})
    now = RoomStats(publications={"cam": _track(600), "mic": _track(50)},
                    subscriptions={("pa", "cam"): _track(590, 26, rtt=60.0, jitter=9.0),
                                   ("pb", "cam"): _track(590, 0, rtt=300.0),
                                   ("pb", "mic"): _track(50)})  # new: waits for the next one
    got = readings(before, now, 5.0, {"cam": "teacher", "mic": "teacher"})
    assert got["pa"] == Reading(sent=500, lost=25, rtt_ms=60.0, jitter_ms=9.0,
                                down_kbps=800.0, up_kbps=0.0)
    assert got["pb"].rtt_ms == 300.0 and got["pb"].lost == 0
    assert got["teacher"].up_kbps == 800.0 and got["teacher"].sent == 0
    assert readings(None, now, 5.0, {}) == {}


def test_a_minute_sums_its_readings_and_grades_follow_the_pages() -> None:
    minute = Minute(1, "pa", datetime(2030, 3, 4, 0, 1, tzinfo=UTC))
    minute.add(Reading(sent=500, lost=25, rtt_ms=60.0, jitter_ms=9.0, down_kbps=800.0))
    minute.add(Reading(sent=500, lost=0, rtt_ms=80.0, down_kbps=1000.0, up_kbps=10.0))
    row = minute.row()
    assert (row["samples"], row["loss_pct"], row["rtt_ms"], row["jitter_ms"]) == (2, 2.5, 70.0, 9.0)
    assert (row["down_kbps"], row["up_kbps"]) == (900.0, 5.0)
    assert grade(1.0, 40.0, 10.0) is Grade.good
    assert grade(2.5, 40.0, None) is Grade.fair
    assert grade(None, 600.0, None) is Grade.poor
    assert grade(None, None, 200.0) is Grade.poor
    assert grade(None, None, None) is None


def test_connected_time_merges_overlaps_and_caps_open_stretches() -> None:
    t = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)

    def m(minutes: float) -> datetime:
        return t + timedelta(minutes=minutes)

    stretches = [Stretch(m(0), m(10)), Stretch(m(8), m(20)),  # a reconnect racing its timeout
                 Stretch(m(25), None),  # the server died: ends where the next one began
                 Stretch(m(30), None)]  # still open: ends at `until`
    assert closed_stretches(stretches, m(40))[2] == (m(25), m(30))
    assert connected_seconds(stretches, m(40)) == (20 + 5 + 10) * 60
    assert connected_seconds([Stretch(m(0), m(50))], m(40)) == 40 * 60
    assert connected_seconds([], m(40)) == 0


def test_reconnects_count_per_device_not_per_classroom() -> None:
    t = datetime(2030, 3, 4, 0, 0, tzinfo=UTC)
    report = AttendeeReport(("classroom", 1), "receiving_classroom", "pa", stretches=[
        Stretch(t, t + timedelta(minutes=10), "terminal:1"),
        Stretch(t, None, "source:2"),  # the classroom's encoder, all along
        Stretch(t + timedelta(minutes=10), None, "terminal:1"),  # replaced its dropped socket
    ])
    assert report.reconnects == 1
    assert connected_seconds(report.stretches, t + timedelta(minutes=40)) == 40 * 60
