"""Resources for tests, as the transcode job leaves them: rows plus real files in the library."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.library.storage import LibraryStorage
from server.models import Rendition, Resource, ResourceState, Visibility, utcnow

from .media import HlsFiles


def new_resource(title: str, **fields: Any) -> Resource:
    """A Resource row (not yet added): ready and school-visible unless told otherwise."""
    values: dict[str, Any] = {
        "title": title, "state": ResourceState.ready, "visibility": Visibility.school,
        "directory": "", "tags": [], "facts": {}, "bytes": 0, "views": 0,
        "taught_on": date(2026, 11, 2),
    }
    values.update(fields)
    return Resource(**values, renditions=[])  # loaded (empty), so attach_media may set it


def attach_media(resource: Resource, storage: LibraryStorage, hls: HlsFiles | None) -> None:
    """Give a flushed Resource its directory and, with `hls`, a copy of those files and the
    rows pointing at them (renditions, poster, thumbnails, duration)."""
    folder = storage.resource_dir(resource.id)
    resource.directory = storage.relative(folder)
    if hls is None:
        return
    hls.copy_to(folder)
    base = resource.directory
    resource.renditions = [
        Rendition(name=r.name, width=r.width, height=r.height, bandwidth=r.bandwidth,
                  playlist=f"{base}/{r.playlist}", bytes=r.bytes)
        for r in hls.rungs
    ]
    resource.poster = f"{base}/poster.jpg"
    resource.thumbnails = f"{base}/thumbnails.vtt"
    resource.duration_s = hls.duration
    resource.bytes = sum(r.bytes for r in hls.rungs)
    if resource.state is ResourceState.ready:
        resource.published_at = utcnow()


async def add_resource(db: AsyncSession, storage: LibraryStorage, title: str,
                       hls: HlsFiles | None = None, **fields: Any) -> Resource:
    """Store a Resource (with real media when `hls` is given) and commit; returns it."""
    resource = new_resource(title, **fields)
    db.add(resource)
    await db.flush()
    attach_media(resource, storage, hls)
    await db.commit()
    return resource
