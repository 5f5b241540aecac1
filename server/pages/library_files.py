"""The library's media over HTTP, each request checked against the Resource's visibility.

- `/library/{id}/files/{path}`: playlists, segments, poster, sprite and WebVTT of one Resource,
  with Range requests, ETag revalidation and Cache-Control (aiohttp's FileResponse does the
  ranges and validators; `private`, because what one person may see another may not).
- `/library/{id}/download/{rendition}`: one rung as one file for offline classroom use.
- `/static/vendor/hls.mjs`: hls.js from node_modules (npm, package-lock.json).
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import quote

from aiohttp import web

from ..config import REPO_ROOT
from ..errors import ErrorCode, KelianError
from ..keys import LIBRARY, SESSIONS
from ..library import catalogue
from ..library.files import cache_control, content_type, media_file, rendition_download
from ..models import Resource, ResourceState
from .common import signed_in_user

log = logging.getLogger("kelian.pages")

HLS_JS = REPO_ROOT / "node_modules" / "hls.js" / "dist" / "hls.light.min.mjs"
CHUNK = 1 << 20
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


async def _resource(request: web.Request) -> Resource:
    who = signed_in_user(request)
    async with request.app[SESSIONS]() as db:
        return await catalogue.get_resource(db, who, int(request.match_info["id"]))


async def resource_file(request: web.Request) -> web.StreamResponse:
    resource = await _resource(request)
    path = media_file(request.app[LIBRARY], resource, request.match_info["path"])
    if not await asyncio.to_thread(path.is_file):
        raise KelianError(ErrorCode.not_found, "No such file in the library")
    kind = content_type(path)
    assert kind is not None  # media_file serves known types only
    return web.FileResponse(path, headers={"Content-Type": kind,
                                           "Cache-Control": cache_control(path)})


def download_name(title: str, rendition: str, extension: str) -> str:
    """A file name people recognise: the title (without characters file systems refuse)."""
    stem = _UNSAFE_NAME.sub(" ", title).strip(" .")[:80] or "lesson"
    return f"{stem}-{rendition}{extension}"


def content_disposition(name: str, fallback: str) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name (RFC 6266 / RFC 5987)."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    resource = await _resource(request)
    name = request.match_info["name"]
    rendition = next((r for r in resource.renditions if r.name == name), None)
    if resource.state is not ResourceState.ready or rendition is None:
        raise KelianError(ErrorCode.not_found, "No such file in the library")
    found = await asyncio.to_thread(rendition_download, request.app[LIBRARY], resource, rendition)
    fallback = f"resource-{resource.id}-{rendition.name}{found.extension}"
    response = web.StreamResponse(headers={
        "Content-Type": found.content_type,
        "Content-Length": str(found.bytes),
        "Content-Disposition": content_disposition(
            download_name(resource.title, rendition.name, found.extension), fallback),
        "Cache-Control": "private, no-store",
    })
    await response.prepare(request)
    try:
        for part in found.parts:
            with await asyncio.to_thread(part.open, "rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    await response.write(chunk)
        await response.write_eof()
    except ConnectionResetError:  # the classroom computer cancelled the download
        log.info("download of resource %d (%s) stopped by the client", resource.id, name)
    return response


async def hls_js(request: web.Request) -> web.StreamResponse:
    """hls.js as npm installed it; missing, the player falls back to the browser's own HLS."""
    if not HLS_JS.is_file():
        raise KelianError(ErrorCode.not_found, "hls.js is not installed (run npm ci)")
    return web.FileResponse(HLS_JS, headers={"Content-Type": "text/javascript; charset=utf-8",
                                             "Cache-Control": "public, max-age=3600"})


def setup(app: web.Application) -> None:
    if not HLS_JS.is_file():
        log.warning("%s is missing (run `npm ci`): the library's player falls back to the "
                    "browser's own HLS, which only Safari has", HLS_JS)
    item = r"/library/{id:[0-9]{1,9}}"
    app.router.add_get(item + "/files/{path:.+}", resource_file)
    app.router.add_get(item + r"/download/{name:[A-Za-z0-9_.-]{1,50}}", download)
    app.router.add_get("/static/vendor/hls.mjs", hls_js)
