"""Recording a running lesson, on the control plane: which Publications feed the Recording's
tracks, and when it starts and stops. The media plane writes the files (remuxed, never
re-encoded); a `RecordingStore` keeps the record of them (the database, in the app).

The Recording follows the hub: the teacher's camera, courseware and microphone, or the hub
classroom's camera and microphone where the teacher publishes none. When a feeding Publication
ends (the teacher's page reconnects, a camera is switched) the next best one takes over and the
Recording's timeline goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from media.interface import PublicationInfo, RecordingTrack, Room, SourceLabel

from .rules import ParticipantRole

log = logging.getLogger("kelian.live.recording")

# Who feeds each track, best first.
_FEEDERS = (ParticipantRole.host, ParticipantRole.host_classroom)
_TRACK_SOURCE = {
    RecordingTrack.camera: SourceLabel.camera,
    RecordingTrack.screen: SourceLabel.screen,
    RecordingTrack.audio: SourceLabel.microphone,
}

Feeds = dict[RecordingTrack, str | None]


class RecordingStore(Protocol):
    """Where the control plane keeps its Recordings (server.library.recordings in the app)."""

    async def begin(self, lesson_id: int) -> tuple[str, Path]:
        """A new Recording of the lesson: its id for the media plane and its folder."""

    async def segment(self, recording_id: str, path: Path, start_s: float,
                      duration_s: float | None) -> None:
        """A segment file opened (duration None) or closed."""

    async def finish(self, recording_id: str, segments: Sequence[Path],
                     error: str | None, handed_on: bool = False) -> None:
        """The Recording ended (with `error` if the media plane gave up on it), or this node
        stopped writing it because the Room moved to another node (`handed_on`), which
        resumes it."""


def choose_feeds(publications: Iterable[tuple[PublicationInfo, ParticipantRole]]) -> Feeds:
    """Each track's Publication: the teacher's first, else the hub classroom's; oldest first."""
    feeds: Feeds = dict.fromkeys(RecordingTrack)
    candidates = list(publications)
    for track, source in _TRACK_SOURCE.items():
        for role in _FEEDERS:
            found = next((info.publication_id for info, r in candidates
                          if r is role and info.source is source), None)
            if found is not None:
                feeds[track] = found
                break
    return feeds


class RoomRecorder:
    """The Recording of one LiveRoom, if any is running."""

    def __init__(self, lesson_id: int, media: Room, store: RecordingStore):
        self.lesson_id = lesson_id
        self._media = media
        self._store = store
        self.recording_id: str | None = None
        self._feeds: Feeds = dict.fromkeys(RecordingTrack)
        self._lock = asyncio.Lock()  # start and stop never interleave
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        return self.recording_id is not None

    async def start(self, feeds: Feeds) -> bool:
        """Start recording with these feeds; False if it was already running."""
        async with self._lock:
            if self.recording_id is not None:
                return False
            recording_id, directory = await self._store.begin(self.lesson_id)
            directory.mkdir(parents=True, exist_ok=True)
            self._media.start_recording(
                recording_id, directory, camera=feeds[RecordingTrack.camera],
                screen=feeds[RecordingTrack.screen], audio=feeds[RecordingTrack.audio])
            self.recording_id, self._feeds = recording_id, dict(feeds)
            log.info("lesson %d: recording %s started in %s", self.lesson_id, recording_id,
                     directory, extra={"lesson_id": self.lesson_id, "recording_id": recording_id})
            return True

    async def stop(self, error: str | None = None, handed_on: bool = False) -> bool:
        """Stop recording (files flushed and closed); False if it was not running.
        `handed_on`: the Room moves to another node, which goes on with this Recording."""
        async with self._lock:
            recording_id = self.recording_id
            if recording_id is None:
                return False
            self.recording_id = None
            try:
                segments = await self._media.stop_recording(recording_id)
            except Exception as exc:  # the files written so far stay; say what happened
                log.exception("lesson %d: stopping recording %s failed", self.lesson_id,
                              recording_id)
                segments, error = [], error or f"stopping failed: {exc}"
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._store.finish(recording_id, segments, error, handed_on)
            log.info("lesson %d: recording %s stopped (%d segments)", self.lesson_id,
                     recording_id, len(segments),
                     extra={"lesson_id": self.lesson_id, "recording_id": recording_id,
                            "segments": len(segments), "error": error})
            return True

    def update(self, feeds: Feeds) -> None:
        """Publications came or went: switch the tracks whose best feed changed."""
        if self.recording_id is None or self._lock.locked():
            return  # a start in progress reads the feeds when it is done
        for track, publication_id in feeds.items():
            if self._feeds.get(track) != publication_id:
                self._media.switch_recording_source(self.recording_id, track, publication_id)
        self._feeds = dict(feeds)

    def note_segment(self, recording_id: str, path: Path, start_s: float,
                     duration_s: float | None) -> None:
        task = asyncio.create_task(self._store.segment(recording_id, path, start_s, duration_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
