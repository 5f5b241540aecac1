"""`LiveLessons`: the running lessons of this node, each a `LiveRoom` over a media Room.

Starting a lesson opens its Room; ending it closes the Room. A lesson the database says is live
but that has no Room here (the node restarted) gets one on the first join. Several nodes will
need room placement (Redis) behind this same class; today one process holds every Room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media.interface import MediaService

from ..signalling.codes import LeaveReason, SignalError, SignalErrorCode
from .attendance import AttendanceSink
from .recording import RecordingStore
from .room import LessonInfo, LiveRoom

log = logging.getLogger("kelian.live.lessons")


class LiveLessons:
    def __init__(self, media: MediaService, recordings: RecordingStore | None = None,
                 attendance: AttendanceSink | None = None):
        self.media = media
        self.recordings = recordings
        self.attendance = attendance
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

    async def start(self, lesson: LessonInfo) -> LiveRoom:
        """Open the lesson's Room (idempotent); it starts recording if the lesson says so."""
        self._ended.discard(lesson.lesson_id)
        return await self.ensure(lesson)

    async def ensure(self, lesson: LessonInfo) -> LiveRoom:
        """The lesson's Room, opened if the database says it is live but no Room is here."""
        async with self._lock:
            if lesson.lesson_id in self._ended:
                raise SignalError(SignalErrorCode.lesson_not_live, "The lesson has ended")
            room = self.get(lesson.lesson_id)
            if room is None:
                room = await LiveRoom.open(lesson, self.media, self.recordings, self.attendance)
                self._rooms[lesson.lesson_id] = room
                log.info("lesson %d: room %s opened", lesson.lesson_id, lesson.room_id,
                         extra={"lesson_id": lesson.lesson_id, "room_id": lesson.room_id})
                if lesson.record and self.recordings is not None:
                    room.start_recording_soon()
                self._changed()
            return room

    async def end(self, lesson_id: int) -> None:
        """Close the lesson's Room: everyone is told and disconnected."""
        self._ended.add(lesson_id)
        room = self._rooms.pop(lesson_id, None)
        if room is not None:
            await room.close(LeaveReason.lesson_ended)
            self._changed()

    def rooms(self) -> list[LiveRoom]:
        return [room for room in self._rooms.values() if not room.closed]

    async def close(self) -> None:
        """Node shutdown: close every Room (sockets get GOING_AWAY), then the media plane."""
        rooms, self._rooms = list(self._rooms.values()), {}
        for room in rooms:
            await room.close(LeaveReason.shutdown)
        await self.media.close()
