"""Uploaded videos: streamed to disk under the library's upload folder with a size limit, then
made a Resource (processing) whose transcode job is queued.

The file is written as a hidden `.partial` and renamed only when complete, so a refused or
broken upload leaves nothing behind and a worker never sees half a file.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..audit import AuditTag
from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..models import Resource, ResourceState, Role, School, User
from ..services.records import invalid, parse
from .access import can_upload
from .processing import enqueue_transcode
from .shapes import ResourceIn
from .storage import LibraryStorage

CHUNK = 1 << 20
MIB = 1 << 20
# Names people's cameras and editors give videos; anything else is refused before uploading.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".ts", ".mts", ".m2ts",
                            ".flv", ".avi", ".wmv", ".mpg", ".mpeg", ".3gp", ".vob"})
FREE_SPACE_MARGIN = 256 * MIB  # what an upload must leave free on the library's disk


class Chunks(Protocol):
    """A multipart part being received (aiohttp's BodyPartReader)."""

    filename: str | None

    async def read_chunk(self, size: int = ...) -> bytes: ...


@dataclass(frozen=True)
class ReceivedFile:
    relative: str  # library-relative
    bytes: int
    filename: str  # as the uploader named it


def too_large(limit_bytes: int) -> KelianError:
    return KelianError(ErrorCode.too_large,
                       f"The video is larger than the limit of {limit_bytes // MIB} MiB")


def video_suffix(filename: str) -> str:
    """The file's suffix when it names a video; invalid otherwise."""
    suffix = Path(filename).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise invalid("file", "choose a video file (MP4, MOV, MKV, WebM, TS, FLV, AVI …)")
    return suffix


def check_room(storage: LibraryStorage, expected_bytes: int) -> None:
    """Refuse an upload the library's disk has no room for (before receiving any of it)."""
    folder = storage.upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(folder).free < expected_bytes + FREE_SPACE_MARGIN:
        raise KelianError(ErrorCode.too_large,
                          "The library's disk has no room for this video; ask an administrator")


async def receive(part: Chunks, storage: LibraryStorage, limit_bytes: int) -> ReceivedFile:
    """Write the part to the upload folder, refusing it (and removing what came) past the limit."""
    filename = part.filename or ""
    if not filename:  # the form's file input was left empty
        raise invalid("file", "choose the video file to upload")
    suffix = video_suffix(filename)
    folder = storage.upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    partial = folder / f".{token}.partial"
    final = folder / f"{token}{suffix}"
    size = 0
    handle = await asyncio.to_thread(partial.open, "wb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > limit_bytes:
                raise too_large(limit_bytes)
            await asyncio.to_thread(handle.write, chunk)
        await asyncio.to_thread(handle.close)
        if size == 0:
            raise invalid("file", "the file is empty")
        await asyncio.to_thread(partial.rename, final)
    except BaseException:  # refused, the connection dropped, or the request was cancelled
        handle.close()
        partial.unlink(missing_ok=True)
        raise
    return ReceivedFile(relative=storage.relative(final), bytes=size, filename=filename)


def check_metadata(p: Principal, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate the form's fields before the file arrives (no point receiving gigabytes for a
    form that cannot be saved)."""
    if not can_upload(p):
        raise KelianError(ErrorCode.forbidden, "Only teachers and admins upload videos")
    data = parse(ResourceIn, payload)
    if data.get("teacher_id") is not None and not p.is_admin:
        raise invalid("teacher_id", "only an admin names another teacher")
    return data


async def create_uploaded(db: AsyncSession, p: Principal, storage: LibraryStorage,
                          data: dict[str, Any], received: ReceivedFile) -> Resource:
    """The Resource of an upload, processing, with its transcode job queued (both committed)."""
    teacher_id = data.pop("teacher_id", None) or (p.user_id if p.role is Role.teacher else None)
    school_id = p.school_id
    if teacher_id is not None and teacher_id != p.user_id:
        teacher = await db.get(User, teacher_id)
        if teacher is None or teacher.role is not Role.teacher:
            raise invalid("teacher_id", f"user {teacher_id} is not a teacher")
        school_id = teacher.school_id
    county = None
    if school_id is not None:
        county = await db.scalar(select(School.county).where(School.id == school_id))
    resource = Resource(**data, state=ResourceState.processing, owner_id=p.user_id,
                        teacher_id=teacher_id, school_id=school_id, county=county or p.county,
                        directory="", source_file=received.relative, bytes=0, views=0,
                        facts={"upload": {"filename": received.filename[:200],
                                          "bytes": received.bytes}})
    db.add(resource)
    await db.flush()
    resource.directory = storage.relative(storage.resource_dir(resource.id))
    await enqueue_transcode(db, resource)
    audit.record(db, AuditTag.record_created, p, f"resource:{resource.id}",
                 upload=received.filename[:200], bytes=received.bytes)
    await db.commit()
    return resource
