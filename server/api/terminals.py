"""Terminal tokens over the API: an admin issues one (shown once) or revokes it."""

from __future__ import annotations

from aiohttp import web

from ..http import json_response, require_user
from ..keys import SESSIONS
from ..schemas import TerminalTokenOut
from ..services.terminals import issue_token, revoke_token
from ..signalling.connection import revoke_principal
from .handlers import record_id


async def issue(request: web.Request) -> web.Response:
    who = require_user(request)
    terminal_id = record_id(request)
    async with request.app[SESSIONS]() as db:
        token = await issue_token(db, who, terminal_id)
    revoke_principal(request.app, "terminal", terminal_id)  # the old token's sockets
    body = TerminalTokenOut(terminal_id=terminal_id, token=token)
    location = request.app.router["api.terminals.item"].url_for(id=str(terminal_id))
    return json_response(body.model_dump(mode="json"), status=201,
                         headers={"Location": str(location)})


async def revoke(request: web.Request) -> web.Response:
    who = require_user(request)
    async with request.app[SESSIONS]() as db:
        await revoke_token(db, who, record_id(request))
    revoke_principal(request.app, "terminal", record_id(request))
    return web.Response(status=204)
