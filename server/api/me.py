"""`GET /api/v1/me`: who the credentials belong to."""

from __future__ import annotations

from aiohttp import web

from ..http import json_response, require_user
from .shapes import MeOut


async def me(request: web.Request) -> web.Response:
    who = require_user(request)
    body = MeOut(kind=who.kind, name=who.name, user_id=who.user_id, role=who.role,
                 school_id=who.school_id, county=who.county, terminal_id=who.terminal_id,
                 classroom_id=who.classroom_id, locale=who.locale)
    return json_response(body.model_dump(mode="json"))
