"""A Resource's media files as the web serves them: URLs, content types, confinement to the
Resource's own directory, and a rendition's segments joined into one download."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import ErrorCode, KelianError
from ..models import Rendition, Resource
from .storage import LibraryStorage

MASTER_PLAYLIST = "master.m3u8"

# Only what renditions are made of is served; a source upload or a stray file is not.
CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
# Playlists and the thumbnail index are revalidated (cheap: ETag); media is kept a day.
REVALIDATE = frozenset({".m3u8", ".vtt"})
CACHE_MEDIA = "private, max-age=86400"
CACHE_INDEX = "private, no-cache"

_MAP = re.compile(r'#EXT-X-MAP:.*?URI="([^"]+)"')


def _not_found() -> KelianError:
    return KelianError(ErrorCode.not_found, "No such file in the library")


def file_url(resource: Resource, path: str | None) -> str | None:
    """The URL of one of the Resource's files, from its library-relative path (or one relative
    to the Resource's directory)."""
    if not path:
        return None
    return f"/library/{resource.id}/files/{quote(_inside(resource, path))}"


def master_url(resource: Resource) -> str:
    return f"/library/{resource.id}/files/{MASTER_PLAYLIST}"


def download_url(resource: Resource, rendition: Rendition) -> str:
    return f"/library/{resource.id}/download/{quote(rendition.name)}"


def content_type(path: Path) -> str | None:
    return CONTENT_TYPES.get(path.suffix.lower())


def cache_control(path: Path) -> str:
    return CACHE_INDEX if path.suffix.lower() in REVALIDATE else CACHE_MEDIA


def media_file(storage: LibraryStorage, resource: Resource, relative: str) -> Path:
    """The real path of `relative` inside the Resource's directory: never outside it, never a
    hidden file, only media types; not_found otherwise."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise _not_found()
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise _not_found()
    base = storage.path(resource.directory)
    target = storage.path(f"{resource.directory}/{relative}")
    if base not in target.parents or content_type(target) is None:
        raise _not_found()
    return target


@dataclass(frozen=True)
class Download:
    """A rendition as one file: its init segment (fMP4) and media segments, in order."""

    parts: tuple[Path, ...]
    bytes: int
    content_type: str
    extension: str


def rendition_download(storage: LibraryStorage, resource: Resource,
                       rendition: Rendition) -> Download:
    """Read the rung's media playlist and list its files. Blocking: call it in a thread.

    MPEG-TS segments concatenate into one playable transport stream; fMP4 ones (an
    EXT-X-MAP init segment and .m4s fragments) into one fragmented MP4.
    """
    playlist_path = _inside(resource, rendition.playlist)
    playlist = media_file(storage, resource, playlist_path)
    if not playlist.is_file():
        raise _not_found()
    names: list[str] = []
    for line in playlist.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if found := _MAP.match(line):
            names.insert(0, found.group(1))
        elif line and not line.startswith("#"):
            names.append(line)
    folder = posixpath.dirname(playlist_path)
    parts = [media_file(storage, resource, posixpath.normpath(posixpath.join(folder, name)))
             for name in names]
    if not parts:
        raise _not_found()
    fragmented = parts[-1].suffix.lower() in (".m4s", ".mp4")
    return Download(parts=tuple(parts), bytes=sum(p.stat().st_size for p in parts),
                    content_type="video/mp4" if fragmented else "video/mp2t",
                    extension=".mp4" if fragmented else ".ts")


def _inside(resource: Resource, path: str) -> str:
    prefix = resource.directory.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path
