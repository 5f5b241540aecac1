"""WHIP encoders between lessons: they wait, connected, for their classroom's next lesson.

An encoder may POST before its lesson starts and may push all day, as RTMP encoders do
(rtmp.py). While no lesson of its classroom is live here, its send Transport waits in the
node's standby media Room, which nobody receives from (packets arrive and are dropped). When
such a lesson goes live, the Transport is handed over, connected, into the lesson's Room
(`Room.hand_over`): the encoder notices nothing but a keyframe request. When the lesson ends it
is handed back and waits for the next one. A DELETE, a new POST with the same key or the
encoder closing its connection ends the wait, as it ends a publication.

    standby = Standby(live, db_sessions); await standby.open()
    answer = await standby.wait(session, source, offer)  # POST while no lesson is live
    await standby.track(session, source, offer)  # POST into a live lesson: back here after it
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.interface import CloseReason, MediaError, MediaEvent, Room, TransportClosed

from ..keys import LIVE, SESSIONS
from ..live.lessons import LiveLessons
from ..live.room import media_failure
from ..signalling.codes import CloseCode, LeaveReason
from .common import IngestError, signal_status
from .publish import SourceInfo, SourceSeat
from .sessions import Session

log = logging.getLogger("kelian.ingest.standby")

STANDBY_ROOM = "standby"  # the media Room's id; lessons' Rooms are "lesson-<id>"


@dataclass(eq=False)
class WaitingEncoder:
    session: Session
    source: SourceInfo
    offer: str  # labels and rules are read from it again for each lesson

    @property
    def media_id(self) -> str:
        """Its participant id in the standby Room."""
        return f"wait-{self.session.resource_id}"


class PushHooks(Protocol):
    """pushes.py: this node's waiting encoders pushed to lessons other nodes hold."""

    def link_closed(self, participant_id: str) -> None: ...

    async def stop(self, media_id: str) -> None: ...


class Standby:
    def __init__(self, live: LiveLessons, db_sessions: async_sessionmaker[AsyncSession]):
        self.live = live
        self.db = db_sessions
        self._room: Room | None = None
        self._encoders: dict[Session, WaitingEncoder] = {}  # every WHIP Session, in a lesson or not
        self._waiting: dict[str, WaitingEncoder] = {}  # by media id: those in the standby Room now
        self._placing = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # With several nodes: told when a classroom gets its first encoder here (True) and
        # loses its last (False), so its lessons are placed on this node (nodes.py).
        self.noted: Callable[[int, bool], None] | None = None
        self.pushes: PushHooks | None = None  # with several nodes

    async def open(self) -> None:
        self._room = await self.live.media.open_room(STANDBY_ROOM, self._on_media_event)
        self.live.watch(self._lessons_changed)

    async def close(self) -> None:
        self.live.unwatch(self._lessons_changed)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for encoder in list(self._waiting.values()):
            encoder.session.close(CloseCode.going_away, LeaveReason.shutdown)

    # Sessions ----------------------------------------------------------------------------------

    async def wait(self, session: Session, source: SourceInfo, offer: str) -> str:
        """Publish `offer` into the standby Room (no lesson of the classroom is live); the
        relay's answer. Raises `IngestError` 400 for an offer the relay cannot apply."""
        room = self._media_room()
        encoder = WaitingEncoder(session, source, offer)
        try:
            answer = await room.publish(encoder.media_id, offer, {})
        except MediaError as err:
            await room.remove_participant(encoder.media_id, CloseReason.requested)
            raise IngestError(*signal_status(media_failure(err))) from None
        self._add(session, encoder)
        self._waiting[encoder.media_id] = encoder
        log.info("source %d waits for a lesson of its classroom", source.source_id,
                 extra={"source_id": source.source_id, "session": session.resource_id})
        self._place_soon()  # a lesson may have opened while the offer was being answered
        return answer

    def track(self, session: Session, source: SourceInfo, offer: str) -> None:
        """A Session that went straight into a live lesson: it comes here when that ends."""
        self._add(session, WaitingEncoder(session, source, offer))

    def _add(self, session: Session, encoder: WaitingEncoder) -> None:
        classroom = encoder.source.classroom_id
        first = not any(e.source.classroom_id == classroom for e in self._encoders.values())
        self._encoders[session] = encoder
        session.standby = self
        if first and self.noted is not None:
            self.noted(classroom, True)

    def take_back(self, session: Session) -> bool:
        """At the end of its lesson (synchronously, before that Room's media closes): move the
        encoder's Transport back here. False if it cannot wait (it is gone, or shutting down)."""
        encoder = self._encoders.get(session)
        room, participant = session.room, session.participant
        if encoder is None or room is None or participant is None or self._room is None:
            return False
        try:
            room.media.hand_over(participant.participant_id, self._room, encoder.media_id, {})
        except MediaError as err:  # its Transport had failed, or the node is closing
            log.info("source %d cannot wait for the next lesson: %s", encoder.source.source_id,
                     err.message)
            return False
        session.room = session.participant = None
        self._waiting[encoder.media_id] = encoder
        log.info("lesson %d ended: source %d waits for the next one", room.lesson.lesson_id,
                 encoder.source.source_id,
                 extra={"lesson_id": room.lesson.lesson_id, "source_id": encoder.source.source_id})
        self._place_soon()  # another lesson of the classroom may be live
        return True

    def forget(self, session: Session) -> None:
        """The Session ended."""
        encoder = self._encoders.pop(session, None)
        if encoder is None:
            return
        if self._waiting.pop(encoder.media_id, None) is not None and self.pushes is not None:
            self._spawn(self.pushes.stop(encoder.media_id))
        classroom = encoder.source.classroom_id
        last = not any(e.source.classroom_id == classroom for e in self._encoders.values())
        if last and self.noted is not None:
            self.noted(classroom, False)

    async def release(self, session: Session) -> None:
        """A waiting Session ended (DELETE, replaced, revoked): close its Transport."""
        if self._room is not None:
            await self._room.remove_participant(f"wait-{session.resource_id}",
                                                CloseReason.participant_left)

    @property
    def media_room(self) -> Room | None:
        return self._room

    def waiting_encoders(self) -> list[WaitingEncoder]:
        return list(self._waiting.values())

    def waiting(self, principal: str) -> bool:
        """Whether a Source ("source:3") has an encoder waiting here for a lesson."""
        return any(e.session.principal == principal for e in self._waiting.values())

    # Into the lessons --------------------------------------------------------------------------

    def _lessons_changed(self) -> None:
        if self._waiting:
            self._place_soon()

    def _place_soon(self) -> None:
        self._spawn(self._place_all())

    async def _place_all(self) -> None:
        async with self._placing:
            # The Rooms decide, not the lessons' status: a lesson starting may not be committed.
            open_here = [room.lesson.lesson_id for room in self.live.held()]
            if not open_here:
                return
            for encoder in list(self._waiting.values()):
                try:
                    await self._place(encoder, open_here)
                except Exception:  # one encoder's trouble must not keep the others waiting
                    log.exception("source %d: placing it into a lesson failed",
                                  encoder.source.source_id)

    async def _place(self, encoder: WaitingEncoder, open_here: list[int]) -> None:
        assert self._room is not None
        try:
            seat = await SourceSeat.prepare(self.live, self.db, encoder.source, encoder.offer,
                                            among=open_here)
        except IngestError as err:  # none of its classroom's; or the rules refuse it: it waits
            log.debug("source %d waits: %s", encoder.source.source_id, err)
            return
        if self._waiting.get(encoder.media_id) is not encoder:
            return  # it ended meanwhile
        participant = seat.participant(encoder.session)
        if self.pushes is not None:  # it goes into a lesson here: no longer pushed elsewhere
            await self.pushes.stop(encoder.media_id)
        try:
            await seat.adopt(participant, self._room, encoder.media_id)
        except IngestError as err:
            log.warning("lesson %d: source %d could not go in and waits: %s",
                        seat.lesson.lesson_id, encoder.source.source_id, err)
            return
        self._waiting.pop(encoder.media_id, None)
        encoder.session.room, encoder.session.participant = seat.room, participant
        log.info("lesson %d: waiting source %d goes in as %s", seat.lesson.lesson_id,
                 encoder.source.source_id, participant.participant_id,
                 extra={"lesson_id": seat.lesson.lesson_id,
                        "source_id": encoder.source.source_id,
                        "participant": participant.participant_id})

    # The standby Room --------------------------------------------------------------------------

    def _media_room(self) -> Room:
        if self._room is None:
            raise IngestError(503, "the node is starting or stopping; publish again")
        return self._room

    def _on_media_event(self, event: MediaEvent) -> None:
        """A waiting encoder that closed its connection (or whose ICE failed) has ended; a push
        link the other node closed has ended."""
        if isinstance(event, TransportClosed) and not event.sending and self.pushes is not None:
            self.pushes.link_closed(event.participant_id)
        if isinstance(event, TransportClosed) and event.sending:
            encoder = self._waiting.get(event.participant_id)
            if encoder is not None:
                log.info("source %d stopped while waiting", encoder.source.source_id)
                self._spawn(encoder.session.stop(LeaveReason.disconnected))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


STANDBY = web.AppKey("ingest_standby", Standby)


async def standing_by(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: after the media plane starts, before it stops."""
    standby = Standby(app[LIVE], app[SESSIONS])
    await standby.open()
    app[STANDBY] = standby
    yield
    await standby.close()
