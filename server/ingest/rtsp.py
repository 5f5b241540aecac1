"""RTSP cameras pulled into live lessons.

While a lesson is live here, every enabled RTSP Source of its classrooms is pulled (see
media/ingest/rtsp.py) and published into its Room as participant `source:<id>`, through the same
rules and labels as a WHIP encoder (server/ingest/publish.py). One `RtspSupervisor` per node
follows the Rooms (LiveLessons tells it when one opens or closes; it also looks again every
`poll_s`, for Sources added, changed or disabled) and runs one `RtspPuller` per such Source.

A camera that drops is retried with back-off (1, 2, 4 … 30 s) while its lesson stays live; its
Publication stays, paused, and those receiving it get `source_reconnecting`, then
`source_restored` when it is back and their video resumes by itself. A camera that never
answers gets the lesson's host a `source_unreachable` notice (once per host) and is retried all
the same. A disabled Source takes effect at the next look; its running pull stops then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from media.ingest.rtsp import CameraError, Layout, RtspCamera, RtspTiming

from ..keys import LIVE, SESSIONS
from ..live.lessons import LiveLessons
from ..live.participant import Participant
from ..live.room import LiveRoom
from ..live.rules import ParticipantRole
from ..models import Classroom, Lesson, Source, SourceKind, lesson_classroom
from ..signalling import schema as wire
from ..signalling.codes import CloseCode, LeaveReason, NoticeCode
from ..waits import wait_for_event
from .common import IngestError
from .publish import SourceInfo, SourceSeat, concerned, live_lesson

log = logging.getLogger("kelian.ingest.rtsp")


@dataclass(frozen=True)
class PullPolicy:
    camera: RtspTiming = RtspTiming()
    backoff_s: float = 1.0  # the first retry; doubled after each failure
    backoff_max_s: float = 30.0
    steady_s: float = 10.0  # a connection that lasted this long starts the back-off afresh
    poll_s: float = 10.0  # look for Sources added, changed or disabled


RTSP_POLICY = web.AppKey("rtsp_policy", PullPolicy)  # tests set a quicker one before start-up


class _Outbox:
    """The puller's participant receives nothing; two messages concern it."""

    def __init__(self, puller: RtspPuller):
        self.puller = puller

    def send(self, message: wire.Ok | wire.Error | wire.Event) -> None:
        if isinstance(message, wire.Notice) and message.code is NoticeCode.transport_failed:
            self.puller.transport_lost.set()  # the relay dropped our connection: publish again

    def close(self, code: CloseCode, reason: LeaveReason) -> None:
        if reason is not LeaveReason.left:  # not our own leaving: the lesson ended, shutdown
            self.puller.released(reason)


class RtspPuller:
    """Pulls one RTSP Source into one live lesson until stopped or the Room lets it go."""

    def __init__(self, live: LiveLessons, db: async_sessionmaker[AsyncSession],
                 source: SourceInfo, url: str, lesson_id: int, policy: PullPolicy):
        self.live, self.db = live, db
        self.source, self.url, self.lesson_id, self.policy = source, url, lesson_id, policy
        self.camera = RtspCamera(url, policy.camera, name=f"rtsp-{source.source_id}")
        self.participant: Participant | None = None
        self.room: LiveRoom | None = None
        self.transport_lost = asyncio.Event()
        self.connected = False
        self.failures = 0  # connection attempts failed in a row
        self._told_unreachable: set[str] = set()  # hosts' participant ids
        self._task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        """It ended by itself (refused by the rules, the Room let go): not restarted for this
        lesson."""
        return self._task is not None and self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"kelian-rtsp-{self.source.source_id}")
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("source %d: pulling failed", self.source.source_id,
                      exc_info=task.exception())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def released(self, reason: LeaveReason) -> None:
        log.info("source %d: lesson %d let it go (%s)", self.source.source_id, self.lesson_id,
                 reason.value)
        self.participant = None  # it is no longer in the Room
        if self._task is not None:
            self._task.cancel()

    # The loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.policy.backoff_s
        layout = Layout(None, None)
        since = 0.0  # when the camera last connected
        try:
            while True:
                fresh = not self.connected
                if fresh:
                    try:
                        layout = await self.camera.connect()
                    except CameraError as err:
                        self._unreachable(str(err))
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.policy.backoff_max_s)
                        continue
                    self.connected, self.failures = True, 0
                    since = time.monotonic()
                if fresh or self.participant is None:
                    try:
                        await self._publish_for(layout)
                    except Exception as err:
                        if isinstance(err, IngestError) and err.status == 403:
                            log.warning("source %d: not published in lesson %d: %s",
                                        self.source.source_id, self.lesson_id, err.message)
                            return  # the lesson-kind rules refuse it: for good
                        # 409: not live (yet: a lesson starting commits after its Room opens)
                        log.warning("source %d: publishing failed; trying again",
                                    self.source.source_id, exc_info=err)
                        await self._leave()  # the next attempt publishes afresh
                        self.connected = False
                        await self.camera.disconnect()
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, self.policy.backoff_max_s)
                        continue
                reason = await self._until_lost()
                if reason is None:  # publish again, the camera still connected
                    await self._leave()
                    continue
                self.connected = False
                await self.camera.disconnect()
                if time.monotonic() - since >= self.policy.steady_s:
                    delay = self.policy.backoff_s
                log.warning("source %d: camera dropped (%s); reconnecting",
                            self.source.source_id, reason)
                self._tell(NoticeCode.source_reconnecting,
                           f"Camera {self.source.name!r} dropped ({reason}); reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.policy.backoff_max_s)
        finally:
            await self.camera.close()
            await self._leave()

    async def _publish_for(self, layout: Layout) -> None:
        """Publish for `layout`, unless the publication in the Room already carries it (the
        camera came back the same): then its receivers resume by themselves."""
        restored = self.participant is not None
        if restored and self.camera.layout is not None \
                and self.camera.layout.tracks() == layout.tracks():
            self.camera.layout = layout
        else:
            await self._leave()
            await self._publish(layout)
        if restored:
            log.info("source %d: camera back", self.source.source_id)
            self._tell(NoticeCode.source_restored, f"Camera {self.source.name!r} is back")

    async def _publish(self, layout: Layout) -> None:
        self.transport_lost.clear()
        offer = await self.camera.offer(layout)
        seat = await SourceSeat.prepare(self.live, self.db, self.source, offer)
        if seat.lesson.lesson_id != self.lesson_id:  # the classroom moved to another lesson
            raise IngestError(409, f"the classroom is now in lesson {seat.lesson.lesson_id}")
        participant = seat.participant(_Outbox(self))
        answer = await seat.publish(participant)
        self.participant, self.room = participant, seat.room
        await self.camera.accept(answer)
        log.info("lesson %d: camera %d (%s) publishes as %s (%s video, %s audio)",
                 self.lesson_id, self.source.source_id, self.source.name,
                 participant.participant_id,
                 "forwarded" if layout.forwarded else f"{layout.video} encoded once",
                 layout.audio or "no")

    async def _until_lost(self) -> str | None:
        """Why the camera dropped; None if only our connection to the relay did."""
        dropped = asyncio.ensure_future(self.camera.dropped())
        lost = asyncio.ensure_future(self.transport_lost.wait())
        try:
            await asyncio.wait([dropped, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (dropped, lost):
                future.cancel()
            await asyncio.gather(dropped, lost, return_exceptions=True)
        return dropped.result() if dropped.done() and not dropped.cancelled() else None

    async def _leave(self) -> None:
        participant, self.participant = self.participant, None
        room = self.room
        if participant is not None and room is not None and not room.closed:
            await room.leave(participant.participant_id, LeaveReason.left)

    # Telling people ----------------------------------------------------------------------------

    def _unreachable(self, reason: str) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning("source %d: camera does not answer: %s", self.source.source_id, reason)
        room = self.live.get(self.lesson_id)
        if self.participant is not None or room is None:
            return  # it answered before: its receivers were told it is reconnecting
        message = (f"Camera {self.source.name!r} ({self.source.classroom}) does not answer: "
                   f"{reason}. Kelian keeps trying; check its power, cable and RTSP address.")
        for participant in list(room.participants.values()):
            if participant.role is ParticipantRole.host \
                    and participant.participant_id not in self._told_unreachable:
                self._told_unreachable.add(participant.participant_id)
                participant.outbox.send(wire.Notice(code=NoticeCode.source_unreachable,
                                                    message=message,
                                                    classroom=self.source.classroom))

    def _tell(self, code: NoticeCode, message: str) -> None:
        """The host and whoever receives this camera's publications."""
        room, participant = self.room, self.participant
        if room is None or room.closed or participant is None:
            return
        for viewer in concerned(room, participant):
            viewer.outbox.send(wire.Notice(code=code, message=message,
                                           classroom=self.source.classroom))


class RtspSupervisor:
    """The node's pullers: one per enabled RTSP Source of a classroom whose lesson is live here."""

    def __init__(self, live: LiveLessons, db: async_sessionmaker[AsyncSession],
                 policy: PullPolicy):
        self.live, self.db, self.policy = live, db, policy
        self.pullers: dict[int, RtspPuller] = {}  # by source id
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.live.watch(self._wake.set)
        self._task = asyncio.create_task(self._run(), name="kelian-rtsp-supervisor")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        pullers, self.pullers = list(self.pullers.values()), {}
        await asyncio.gather(*(p.stop() for p in pullers), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:  # the next look may do better (e.g. the database was busy)
                log.exception("looking for RTSP sources failed")
            await wait_for_event(self._wake, self.policy.poll_s)
            self._wake.clear()

    async def reconcile(self) -> None:
        """Start and stop pullers to match the live Rooms and the enabled RTSP Sources."""
        wanted = await self._wanted()
        stopping = []
        for source_id, puller in list(self.pullers.items()):
            want = wanted.get(source_id)
            if want is None or (want[0], want[1].url, want[2]) != (
                    puller.source, puller.url, puller.lesson_id):
                del self.pullers[source_id]
                stopping.append(puller.stop())
        await asyncio.gather(*stopping)  # each within the camera's read timeout
        for source_id, (info, source, lesson_id) in wanted.items():
            if source_id not in self.pullers and source.url:
                puller = RtspPuller(self.live, self.db, info, source.url, lesson_id, self.policy)
                self.pullers[source_id] = puller
                puller.start()

    async def _wanted(self) -> dict[int, tuple[SourceInfo, Source, int]]:
        live = {room.lesson.lesson_id for room in self.live.held()}
        if not live:
            return {}
        classrooms = select(Lesson.host_classroom_id).where(Lesson.id.in_(live)).union(
            select(lesson_classroom.c.classroom_id).where(lesson_classroom.c.lesson_id.in_(live)))
        wanted: dict[int, tuple[SourceInfo, Source, int]] = {}
        async with self.db() as db:
            sources = (await db.scalars(
                select(Source).where(Source.kind == SourceKind.rtsp,
                                     Source.enabled.is_(True),
                                     Source.classroom_id.in_(classrooms))
                .options(selectinload(Source.classroom).selectinload(Classroom.school)))).all()
            for source in sources:
                try:  # the Rooms decide: a lesson starting may not be committed yet
                    lesson, _ = await live_lesson(db, source.classroom_id, among=live)
                except IngestError:
                    continue
                wanted[source.id] = (SourceInfo.of(source), source, lesson.id)
        return wanted


RTSP = web.AppKey("rtsp_supervisor", RtspSupervisor)


async def pulling(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: after the media plane starts, before it stops."""
    supervisor = RtspSupervisor(app[LIVE], app[SESSIONS], app.get(RTSP_POLICY, PullPolicy()))
    app[RTSP] = supervisor
    supervisor.start()
    yield
    await supervisor.close()
