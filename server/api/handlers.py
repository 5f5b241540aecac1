"""The generic record endpoints: one handler set, driven by a `RecordSpec`, serves every kind.

Validation, the permission policy, the audit log and transactions live in the services; a
handler authenticates, reads the body, calls one service function and shapes the answer.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import ErrorCode, KelianError
from ..http import json_response, require_user
from ..keys import SESSIONS
from ..lifecycle.changes import record_changed
from ..services.records import (
    RecordSpec,
    create_record,
    delete_record,
    get_record,
    list_records,
    to_out,
    update_record,
)
from ..signalling.connection import revoke_principal
from .body import read_json

MAX_ID = 2**31 - 1  # ids are 32-bit integers


def record_id(request: web.Request) -> int:
    """The `{id}` of the path; a number outside the id range names nothing, so it is not found."""
    raw = request.match_info["id"].lstrip("0")
    if not raw or len(raw) > len(str(MAX_ID)) or int(raw) > MAX_ID:
        shown = raw[:12] + ("…" if len(raw) > 12 else "")
        raise KelianError(ErrorCode.not_found, f"No record with id {shown or 0}")
    return int(raw)


class RecordHandlers:
    """List, create, read, update and delete the records of one kind."""

    def __init__(self, spec: RecordSpec, item_route: str) -> None:
        self.spec = spec
        self.item_route = item_route  # route name, for the Location of a new record

    async def list(self, request: web.Request) -> web.Response:
        who = require_user(request)
        async with request.app[SESSIONS]() as db:
            rows, total, limit, offset = await list_records(db, who, self.spec, request.query)
            items = [to_out(self.spec, row, who) for row in rows]
        return json_response({"items": items, "total": total, "limit": limit, "offset": offset})

    async def create(self, request: web.Request) -> web.Response:
        who = require_user(request)
        payload = await read_json(request)
        async with request.app[SESSIONS]() as db:
            record = await create_record(db, who, self.spec, payload)
            body = to_out(self.spec, record, who)
        record_changed(request.app, self.spec.kind)
        location = request.app.router[self.item_route].url_for(id=str(body["id"]))
        return json_response(body, status=201, headers={"Location": str(location)})

    async def get(self, request: web.Request) -> web.Response:
        who = require_user(request)
        async with request.app[SESSIONS]() as db:
            record = await get_record(db, who, self.spec, record_id(request))
            return json_response(to_out(self.spec, record, who))

    async def update(self, request: web.Request) -> web.Response:
        who = require_user(request)
        payload = await read_json(request)
        async with request.app[SESSIONS]() as db:
            record = await update_record(db, who, self.spec, record_id(request), payload)
            if getattr(record, "active", True) is False:
                revoke_principal(request.app, self.spec.kind, record.id)
            record_changed(request.app, self.spec.kind)
            return json_response(to_out(self.spec, record, who))

    async def delete(self, request: web.Request) -> web.Response:
        who = require_user(request)
        async with request.app[SESSIONS]() as db:
            await delete_record(db, who, self.spec, record_id(request))
        revoke_principal(request.app, self.spec.kind, record_id(request))
        record_changed(request.app, self.spec.kind)
        return web.Response(status=204)
