"""Library Resources over the API: list and search, read, change metadata, delete, progress.

New Resources come from lesson recordings and from the upload page (a multipart stream, see
server/pages/library_upload.py), not from a JSON body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..http import json_response, require_user
from ..keys import LIBRARY, SESSIONS
from ..library import catalogue
from ..library.files import download_url, file_url, master_url
from ..library.shapes import ProgressOut, RenditionOut, ResourceOut
from ..models import Resource, ResourceState
from ..services.records import paging
from .body import read_json
from .handlers import record_id


def resource_out(resource: Resource) -> dict[str, Any]:
    """The Resource as the API returns it (renditions, teacher and school loaded)."""
    ready = resource.state is ResourceState.ready
    out = ResourceOut(
        id=resource.id, title=resource.title, subject=resource.subject, grade=resource.grade,
        description=resource.description, tags=list(resource.tags or []),
        lesson_kind=resource.lesson_kind, taught_on=resource.taught_on,
        visibility=resource.visibility, state=resource.state, error=resource.error,
        owner_id=resource.owner_id, teacher_id=resource.teacher_id,
        teacher_name=resource.teacher.display_name if resource.teacher else None,
        school_id=resource.school_id,
        school_name=resource.school.name if resource.school else None,
        county=resource.county, lesson_id=resource.lesson_id, duration_s=resource.duration_s,
        bytes=resource.bytes, views=resource.views, created_at=resource.created_at,
        published_at=resource.published_at, page_url=f"/library/{resource.id}",
        master_url=master_url(resource) if ready else None,
        poster_url=file_url(resource, resource.poster) if ready else None,
        thumbnails_url=file_url(resource, resource.thumbnails) if ready else None,
        renditions=[RenditionOut(
            name=r.name, width=r.width, height=r.height, bandwidth=r.bandwidth, bytes=r.bytes,
            playlist_url=file_url(resource, r.playlist) if ready else None,
            download_url=download_url(resource, r),
        ) for r in resource.renditions],
    )
    return out.model_dump(mode="json")


async def list_resources(request: web.Request) -> web.Response:
    who = require_user(request)
    query = catalogue.parse_query(request.query)
    limit, offset = paging(request.query)
    async with request.app[SESSIONS]() as db:
        rows, total = await catalogue.list_resources(db, who, query, limit=limit, offset=offset)
        items = [resource_out(row) for row in rows]
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def get_resource(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        return json_response(resource_out(await catalogue.get_resource(db, who, record_id(request))))


async def update_resource(request: web.Request) -> web.Response:
    who = require_user(request)
    payload = await read_json(request)
    async with request.app[SESSIONS]() as db:
        resource = await catalogue.update_resource(db, who, record_id(request), payload)
        return json_response(resource_out(resource))


async def delete_resource(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        await catalogue.delete_resource(db, who, request.app[LIBRARY], record_id(request))
    return web.Response(status=204)


async def resource_progress(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        found = await catalogue.progress(db, who, record_id(request))
    return json_response(ProgressOut(**found).model_dump(mode="json"),
                         headers={"Cache-Control": "no-store"})
