"""`LiveLessons`: the running lessons of this node, each a `LiveRoom` over a media Room.

Starting a lesson opens its Room; ending it closes the Room. A lesson the database says is live
but that has no Room here (the node restarted) gets one on the first join. With several nodes
(`elsewhere`, server/cluster/routing.py) a lesson's Room is on one of them: starting, ending or
recording a lesson held by another node asks that node to do it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Protocol

from media.interface import MediaService

from ..signalling.codes import LeaveReason, SignalError, SignalErrorCode
from .attendance import AttendanceSink
from .recording import RecordingStore
from .room import LessonInfo, LiveRoom

log = logging.getLogger("kelian.live.lessons")


class Elsewhere(Protocol):
    """The other nodes, for lessons whose Room is not on this one."""

    async def open_elsewhere(self, lesson: LessonInfo) -> bool:
        """Place the lesson's Room; if on another node, have it open there (True)."""

    async def end_elsewhere(self, lesson_id: int) -> None: ...

    async def record_elsewhere(self, lesson_id: int) -> bool: ...

    async def held_elsewhere(self, lesson_id: int) -> bool: ...

    async def let_go(self, lesson_id: int) -> None:
        """This node no longer holds the lesson's Room (it drains)."""


class LiveLessons:
    def __init__(self, media: MediaService, recordings: RecordingStore | None = None,
                 attendance: AttendanceSink | None = None):
        self.media = media
        self.recordings = recordings
        self.attendance = attendance
        self.elsewhere: Elsewhere | None = None  # with Redis: the other nodes
        self._rooms: dict[int, LiveRoom] = {}
        self._ended: set[int] = set()  # never reopened by a late join
        self._lock = asyncio.Lock()
        self._watchers: list[Callable[[], None]] = []

    def watch(self, changed: Callable[[], None]) -> None:
        """Call `changed` (synchronously, briefly) whenever a Room opens or closes: what runs
        beside the lessons (e.g. server/ingest/rtsp.py) follows them."""
        self._watchers.append(changed)

    def unwatch(self, changed: Callable[[], None]) -> None:
        if changed in self._watchers:
            self._watchers.remove(changed)

    def _changed(self) -> None:
        for changed in list(self._watchers):
            try:
                changed()
            except Exception:  # a watcher's failure must not fail a lesson's start or end
                log.exception("a lesson watcher failed")

    def get(self, lesson_id: int) -> LiveRoom | None:
        room = self._rooms.get(lesson_id)
        return room if room is not None and not room.closed else None

    async def start(self, lesson: LessonInfo) -> LiveRoom | None:
        """Open the lesson's Room (idempotent); it starts recording if the lesson says so. None
        when another node holds it, and was asked to open it."""
        self._ended.discard(lesson.lesson_id)
        if self.elsewhere is not None and await self.elsewhere.open_elsewhere(lesson):
            return None
        return await self.ensure(lesson)

    async def start_here(self, lesson: LessonInfo) -> LiveRoom:
        """Open the lesson's Room on this node (another node placed it here)."""
        self._ended.discard(lesson.lesson_id)
        return await self.ensure(lesson)

    async def ensure(self, lesson: LessonInfo, edge: bool = False) -> LiveRoom:
        """The lesson's Room, opened if the database says it is live but no Room is here. An
        `edge` Room (server/cluster/cascade.py) never records: the lesson's origin does."""
        async with self._lock:
            if lesson.lesson_id in self._ended:
                raise SignalError(SignalErrorCode.lesson_not_live, "The lesson has ended")
            room = self.get(lesson.lesson_id)
            if room is None:
                room = await LiveRoom.open(lesson, self.media,
                                           None if edge else self.recordings, self.attendance)
                room.edge = edge
                self._rooms[lesson.lesson_id] = room
                log.info("lesson %d: room %s opened%s", lesson.lesson_id, lesson.room_id,
                         " as an edge" if edge else "",
                         extra={"lesson_id": lesson.lesson_id, "room_id": lesson.room_id})
                if lesson.record and self.recordings is not None and not edge:
                    room.start_recording_soon()
                self._changed()
            return room

    async def end(self, lesson_id: int, here_only: bool = False) -> None:
        """Close the lesson's Room, here or on the node holding it: everyone is told and
        disconnected."""
        self._ended.add(lesson_id)
        room = self._rooms.pop(lesson_id, None)
        if room is not None:
            await room.close(LeaveReason.lesson_ended)
            self._changed()
        if (room is None or room.edge) and self.elsewhere is not None and not here_only:
            await self.elsewhere.end_elsewhere(lesson_id)

    async def record(self, lesson_id: int) -> bool:
        """Start recording the running lesson, here or on the node holding it; False when it
        has no Room, records already or cannot record."""
        room = self.get(lesson_id)
        if room is None or room.edge:
            return self.elsewhere is not None and await self.elsewhere.record_elsewhere(lesson_id)
        if room.recorder is None or room.recording:
            return False
        await room.set_recording(True)
        return True

    async def held_elsewhere(self, lesson_id: int) -> bool:
        room = self.get(lesson_id)
        return (room is None or room.edge) and self.elsewhere is not None \
            and await self.elsewhere.held_elsewhere(lesson_id)

    async def move_away(self, lesson_ids: Collection[int] | None = None,
                        let_go: bool = True) -> int:
        """Close these Rooms (all: the node drains) without ending their lessons; participants
        are told to reconnect now (4307) and find the lesson on another node. `let_go`: clear
        the placement, as this node still holds it. Returns how many."""
        rooms = [(lesson_id, room) for lesson_id, room in self._rooms.items()
                 if lesson_ids is None or lesson_id in lesson_ids]
        for lesson_id, room in rooms:
            if self.elsewhere is not None and let_go:
                await self.elsewhere.let_go(lesson_id)
            self._rooms.pop(lesson_id, None)
            await room.close(LeaveReason.moved)
            log.info("lesson %d: room moved away from this node", lesson_id,
                     extra={"lesson_id": lesson_id})
        if rooms:
            self._changed()
        return len(rooms)

    def rooms(self) -> list[LiveRoom]:
        return [room for room in self._rooms.values() if not room.closed]

    def held(self) -> list[LiveRoom]:
        """The Rooms of the lessons this node holds (not a cascade's edges): where classroom
        cameras and encoders publish."""
        return [room for room in self.rooms() if not room.edge]

    async def close(self) -> None:
        """Node shutdown: close every Room (sockets get GOING_AWAY), then the media plane."""
        rooms, self._rooms = list(self._rooms.values()), {}
        for room in rooms:
            await room.close(LeaveReason.shutdown)
        await self.media.close()
