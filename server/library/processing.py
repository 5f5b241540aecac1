"""Turning a Resource's source (a lesson Recording's segments, or an uploaded file) into its
Renditions: a durable "transcode" job per Resource, run by `server.jobs`."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from media.renditions.errors import RenditionError

from ..jobs import JobError, Progress
from ..jobs.store import enqueue
from ..models import Job, Recording, Rendition, Resource, ResourceState, utcnow
from .storage import LibraryStorage

log = logging.getLogger("kelian.library.processing")

TRANSCODE = "transcode"  # the job kind
MAX_ATTEMPTS = 3


async def enqueue_transcode(db: AsyncSession, resource: Resource) -> Job:
    """Queue the Resource's processing; it starts once the caller commits."""
    return await enqueue(db, TRANSCODE, {"resource_id": resource.id},
                         subject_type="resource", subject_id=resource.id,
                         max_attempts=MAX_ATTEMPTS)


# The job -----------------------------------------------------------------------------------------

# Input problems no retry fixes; the rest (a failed write, a full disk) may pass.
PERMANENT = {"missing", "empty", "not_media", "truncated", "corrupt", "no_video",
             "unsupported_codec"}


@dataclass(frozen=True)
class Rendered:
    """What the library keeps of a finished transcode."""

    duration: float
    rungs: list[tuple[str, int, int, int, Path]]  # name, width, height, bandwidth, playlist
    master: Path
    poster: Path
    thumbnails: Path
    facts: dict[str, Any]


def render(sources: list[Path], out_dir: Path, report: Progress) -> Rendered:
    """Blocking: make the renditions of `sources` (a Recording's segments, in order)."""
    from media.renditions import make_renditions
    from media.renditions.stitch import stitch

    # A node killed mid-recording may leave a last segment too short to open; the others still
    # make the lesson (with none playable, the first one's error says why).
    sources = [source for source in sources if _opens(source)] or sources[:1]

    def part_progress(index: int) -> Callable[[float, float], None]:
        def progress(fraction: float, speed: float) -> None:
            report((index + fraction) / len(sources), speed)
        return progress

    def cancelled() -> bool:
        return report.stopping

    work = out_dir.with_name(f".{out_dir.name}.work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        inputs = [_with_courseware(source, work / f"layout-{i}.mkv", cancelled)
                  for i, source in enumerate(sources)]
        if len(inputs) == 1:
            made = make_renditions(inputs[0], out_dir, part_progress(0), cancelled)
        else:
            parts = [make_renditions(source, work / f"part-{i}", part_progress(i), cancelled)
                     for i, source in enumerate(inputs)]
            for layout in work.glob("layout-*.mkv"):
                layout.unlink()
            made = stitch(parts, work)
            shutil.rmtree(out_dir, ignore_errors=True)
            work.rename(out_dir)  # whole or not at all, as make_renditions does for one part
            made = dataclasses.replace(made, rungs=tuple(
                dataclasses.replace(r, playlist=out_dir / r.playlist.relative_to(work))
                for r in made.rungs), master=out_dir / made.master.relative_to(work),
                poster=out_dir / made.poster.relative_to(work),
                vtt=out_dir / made.vtt.relative_to(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Rendered(made.duration, [(r.name, r.width, r.height, r.bandwidth, r.playlist)
                                    for r in made.rungs],
                    made.master, made.poster, made.vtt, _facts(made.facts))


def _opens(source: Path) -> bool:
    import av

    try:
        with av.open(str(source), metadata_errors="ignore"):
            return True
    except (av.FFmpegError, OSError):
        return False


def _with_courseware(source: Path, target: Path, cancelled: Callable[[], bool]) -> Path:
    """A recording with both the camera and the courseware screen is laid out side by side
    first (one extra encode), so replays show the courseware too; others go as they are."""
    import av

    from media.renditions.layout import Track, side_by_side

    with av.open(str(source), metadata_errors="ignore") as container:
        titles = {s.metadata.get("title") for s in container.streams.video}
    if not {"camera", "screen"} <= titles:
        return source
    return side_by_side(Track(source, "camera"), Track(source, "screen"), target,
                        should_cancel=cancelled)


def _facts(facts: object) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Fraction) else v) for k, v in asdict(facts).items()}


class TranscodeJob:
    """The "transcode" job handler: a Resource's source into its Renditions, then published."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], storage: LibraryStorage):
        self.sessions = sessions
        self.storage = storage

    async def __call__(self, payload: dict[str, Any], report: Progress) -> None:
        resource_id = int(payload["resource_id"])
        async with self.sessions() as db:
            resource = await db.get(Resource, resource_id)
            if resource is None or resource.state is not ResourceState.processing:
                return  # deleted, or done by an earlier attempt
            sources = await self._sources(db, resource)
            out_dir = self.storage.path(resource.directory)
        if not sources:
            await self._failed(resource_id, "No recorded or uploaded file was found")
            raise JobError("missing", "no source file")
        try:
            made = await asyncio.to_thread(render, sources, out_dir, report)
        except RenditionError as err:
            if err.code in PERMANENT or report.attempt >= MAX_ATTEMPTS:  # its last try
                await self._failed(resource_id, err.message)
            raise JobError(err.code, err.message, retry=err.code not in PERMANENT) from None
        await self._publish(resource_id, out_dir, made)

    async def _sources(self, db: AsyncSession, resource: Resource) -> list[Path]:
        if resource.source_file:
            found = self.storage.path(resource.source_file)
            return [found] if found.is_file() else []
        if resource.recording_id is None:
            return []
        recording = await db.get(Recording, resource.recording_id)
        if recording is None:
            return []
        folder = self.storage.path(recording.directory)
        return [folder / s["file"] for s in recording.segments
                if (folder / s["file"]).is_file() and (folder / s["file"]).stat().st_size > 0]

    async def _failed(self, resource_id: int, reason: str) -> None:
        async with self.sessions() as db:
            resource = await db.get(Resource, resource_id)
            if resource is not None:
                resource.state, resource.error = ResourceState.failed, reason
                await db.commit()
        log.warning("resource %d: processing failed: %s", resource_id, reason)

    async def _publish(self, resource_id: int, out_dir: Path, made: Rendered) -> None:
        async with self.sessions() as db:
            resource = await db.get(Resource, resource_id,
                                    options=[selectinload(Resource.renditions)])
            if resource is None:  # deleted while it was transcoded: leave nothing behind
                shutil.rmtree(out_dir, ignore_errors=True)
                return
            rel = self.storage.relative
            resource.renditions = [
                Rendition(name=name, width=w, height=h, bandwidth=bw, playlist=rel(playlist),
                          bytes=sum(f.stat().st_size for f in playlist.parent.glob("*")
                                    if f.is_file()))
                for name, w, h, bw, playlist in made.rungs]
            resource.duration_s = made.duration
            resource.facts = made.facts
            resource.poster = rel(made.poster)
            resource.thumbnails = rel(made.thumbnails)
            resource.bytes = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
            resource.state, resource.error = ResourceState.ready, None
            resource.published_at = utcnow()
            await db.commit()
        log.info("resource %d: published (%.1f s, %d renditions)", resource_id, made.duration,
                 len(made.rungs))
