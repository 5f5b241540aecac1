"""Starting and ending a lesson: POST /api/v1/lessons/{id}/start and /end."""

from __future__ import annotations

from aiohttp import web

from ..http import json_response, require_user
from ..keys import LIVE, SESSIONS
from ..services.lessons import end_lesson, start_lesson
from ..services.records import to_out
from ..services.specs import LESSON
from .handlers import record_id


async def start(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        lesson = await start_lesson(db, who, record_id(request), request.app[LIVE])
        return json_response(to_out(LESSON, lesson, who))


async def end(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        lesson = await end_lesson(db, who, record_id(request), request.app[LIVE])
        return json_response(to_out(LESSON, lesson, who))
