"""Recordings in the database: the `RecordingStore` of the live Rooms, the Resource each finished
Recording becomes (with its transcode job), and recovery of Recordings cut off by a crash.

A Recording's media id is `rec-<row id>` and its segment files are `rec-<id>.<n>.mkv` in its
folder (media.interface.Room.start_recording), so a Recording whose server died can be found
again from the database and the disk alone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from ..models import (
    Classroom,
    Lesson,
    LessonKind,
    Recording,
    RecordingState,
    Resource,
    ResourceState,
    Visibility,
    utcnow,
)
from .processing import enqueue_transcode
from .storage import LibraryStorage

log = logging.getLogger("kelian.library.recordings")

_MEDIA_ID = re.compile(r"rec-(\d+)")
# Who finds a lesson's recording in the library by default; the owner may change it.
DEFAULT_VISIBILITY = {
    LessonKind.dedicated: Visibility.school,
    LessonKind.master_teacher: Visibility.county,
    LessonKind.famous_school: Visibility.everyone,
}


def media_id(recording: Recording) -> str:
    return f"rec-{recording.id}"


def row_id(recording_id: str) -> int:
    found = _MEDIA_ID.fullmatch(recording_id)
    if found is None:
        raise ValueError(f"not a recording id: {recording_id!r}")
    return int(found.group(1))


# A segment file's name: `<recording's media id>.<number>.mkv`; the numbers are its order.
_SEGMENT_NAME = re.compile(r"(.+)\.(\d+)\.mkv")


def segment_files(directory: Path, recording: Recording) -> list[Path]:
    """The Recording's segment files on disk, in order (what a crash left, too)."""
    found = [(_number(p.name), p) for p in directory.glob(f"{media_id(recording)}.*.mkv")
             if (m := _SEGMENT_NAME.fullmatch(p.name)) and m.group(1) == media_id(recording)
             and p.stat().st_size > 0]
    return [p for _, p in sorted(found)]


class DatabaseRecordings:
    """The app's RecordingStore (server.live.recording).

    With several nodes a lesson's Room may move (a drain, a node that died): the node that
    opens it next resumes the lesson's Recording where the last one stopped, under the same id
    and in the same folder (on storage the nodes share), so the library gets one lesson, not
    one piece per node. Where the folder is not visible (each node its own disk) a new
    Recording starts, and the one left behind is closed by its own node."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], storage: LibraryStorage,
                 node: str, *, unclaimed_after_s: float = 60.0):
        self.sessions = sessions
        self.storage = storage
        self.node = node
        self.unclaimed_after_s = unclaimed_after_s  # a handed-on Recording nobody resumed
        self._offsets: dict[str, float] = {}  # a resumed Recording's time before this node
        self._tasks: set[asyncio.Task[None]] = set()

    async def begin(self, lesson_id: int) -> tuple[str, Path]:
        async with self.sessions() as db:
            resumed = await self._resume(db, lesson_id)
            if resumed is not None:
                await db.commit()
                return media_id(resumed), self.storage.path(resumed.directory)
            directory = self.storage.recording_dir(lesson_id)
            recording = Recording(lesson_id=lesson_id, state=RecordingState.recording,
                                  directory=self.storage.relative(directory), segments=[],
                                  node=self.node)
            db.add(recording)
            await db.commit()
            return media_id(recording), directory

    async def _resume(self, db: AsyncSession, lesson_id: int) -> Recording | None:
        """Take over the lesson's Recording another node left running (it handed the Room on,
        or died), if its files are here. Locked: the node that left it may be closing it."""
        left = await db.scalar(
            select(Recording).where(Recording.lesson_id == lesson_id,
                                    Recording.state == RecordingState.recording,
                                    Recording.node != self.node)
            .order_by(Recording.id.desc()).limit(1).with_for_update())
        if left is None:
            return None
        directory = self.storage.path(left.directory)
        files = segment_files(directory, left) if directory.is_dir() else []
        if left.segments and not files:
            return None  # written on a disk this node does not see
        # Where its timeline stands, as far as the closed segments tell (a dead node's last
        # one has no duration): the new segments' start times are approximate, their order is
        # the files' numbering.
        self._offsets[media_id(left)] = max(
            [float(s["start_s"] or 0) + float(s["duration_s"] or 0) for s in left.segments],
            default=0.0)
        log.warning("lesson %d: recording %d resumed from node %s after %d segment(s)",
                    lesson_id, left.id, left.node, len(files),
                    extra={"lesson_id": lesson_id, "recording_id": left.id})
        left.node = self.node
        return left

    async def segment(self, recording_id: str, path: Path, start_s: float,
                      duration_s: float | None) -> None:
        start_s += self._offsets.get(recording_id, 0.0)
        async with self.sessions() as db:
            recording = await db.get(Recording, row_id(recording_id))
            if recording is None:
                return
            segments = [s for s in recording.segments if s["file"] != path.name]
            segments.append({"file": path.name, "start_s": round(start_s, 3),
                             "duration_s": None if duration_s is None else round(duration_s, 3)})
            recording.segments = sorted(segments, key=lambda s: _number(s["file"]))
            await db.commit()

    async def finish(self, recording_id: str, segments: Sequence[Path],
                     error: str | None, handed_on: bool = False) -> None:
        resumed = self._offsets.pop(recording_id, None) is not None
        async with self.sessions() as db:
            recording = await db.get(Recording, row_id(recording_id), with_for_update=True)
            if recording is None or recording.node != self.node:
                return  # another node resumed it meanwhile: it is that node's to close
            if handed_on:  # the Room moved: the node opening it next resumes the Recording
                self._spawn(self._close_unclaimed(recording.id))
                return
            files = segment_files(self.storage.path(recording.directory), recording) \
                if resumed else list(segments)
            await close_recording(db, self.storage, recording, files, error)
            await db.commit()

    async def _close_unclaimed(self, row: int) -> None:
        """A Recording handed on that no node resumed in time (the lesson ended meanwhile, or
        the next node cannot see its files): closed here, as if it had stopped then."""
        await asyncio.sleep(self.unclaimed_after_s)
        async with self.sessions() as db:
            recording = await db.get(Recording, row, with_for_update=True)
            if recording is None or recording.node != self.node \
                    or recording.state is not RecordingState.recording:
                return
            files = segment_files(self.storage.path(recording.directory), recording)
            await close_recording(db, self.storage, recording, files)
            await db.commit()
            log.info("recording %d of lesson %d: no node resumed it; closed", row,
                     recording.lesson_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Node shutdown: a Recording still waiting to be resumed stays `recording`; this
        node's next start recovers it if nobody did."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _number(name: str) -> int:
    """A segment file's place in its Recording (0 for a name not a segment's)."""
    found = _SEGMENT_NAME.fullmatch(name)
    return int(found.group(2)) if found else 0


async def close_recording(db: AsyncSession, storage: LibraryStorage, recording: Recording,
                          files: list[Path], error: str | None = None) -> Resource | None:
    """Mark the Recording ended; if it holds anything, make its Resource and queue the job."""
    known = {s["file"]: s for s in recording.segments}
    recording.segments = [known.get(p.name, {"file": p.name, "start_s": None, "duration_s": None})
                          for p in files]
    recording.ended_at = utcnow()
    recording.error = error
    if not files:
        recording.state = RecordingState.failed
        recording.error = error or "Nothing was recorded (no camera or microphone was published)"
        return None
    recording.state = RecordingState.stopped
    return await resource_for(db, storage, recording)


async def resource_for(db: AsyncSession, storage: LibraryStorage,
                       recording: Recording) -> Resource:
    """The library Resource of a finished Recording (created once), queued for transcoding."""
    existing = await db.scalar(select(Resource).where(Resource.recording_id == recording.id))
    if existing is not None:
        return existing
    lesson = await db.scalar(
        select(Lesson).where(Lesson.id == recording.lesson_id).options(
            selectinload(Lesson.course),
            selectinload(Lesson.host_classroom).selectinload(Classroom.school)))
    assert lesson is not None  # a Recording's lesson is deleted with it (CASCADE)
    school = lesson.host_classroom.school
    taught = (lesson.actual_start or recording.started_at).astimezone(ZoneInfo(school.time_zone))
    resource = Resource(
        title=lesson.title, subject=lesson.course.subject if lesson.course else "",
        grade=lesson.course.grade if lesson.course else "", description=lesson.description,
        tags=[], lesson_kind=lesson.kind, taught_on=taught.date(),
        visibility=DEFAULT_VISIBILITY[lesson.kind], state=ResourceState.processing,
        owner_id=lesson.teacher_id, teacher_id=lesson.teacher_id, school_id=school.id,
        county=school.county, lesson_id=lesson.id, recording_id=recording.id, directory="")
    db.add(resource)
    await db.flush()
    resource.directory = storage.relative(storage.resource_dir(resource.id))
    await enqueue_transcode(db, resource)
    log.info("recording %d of lesson %d: resource %d queued for transcoding", recording.id,
             lesson.id, resource.id)
    return resource


async def recover_interrupted(sessions: async_sessionmaker[AsyncSession],
                              storage: LibraryStorage, node: str) -> int:
    """At start-up: this node's Recordings still marked as recording were cut off (the process
    died). Their files are playable up to the last second written: close them and queue them
    for the library. Returns how many."""
    async with sessions() as db:
        cut = list(await db.scalars(select(Recording).where(
            Recording.state == RecordingState.recording, Recording.node == node)))
        for recording in cut:
            files = segment_files(storage.path(recording.directory), recording)
            await close_recording(db, storage, recording, files,
                                  "The server stopped while recording; kept what was written")
            log.warning("recording %d of lesson %d was cut off; recovered %d segment(s)",
                        recording.id, recording.lesson_id, len(files))
        await db.commit()
        return len(cut)
