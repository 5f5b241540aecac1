"""Standard protocols for classroom hardware and players, beside the /ws signalling:

- `whip`: WHIP ingest (RFC 9725): an encoder publishes into its classroom's running lesson.
- `whep`: WHEP egress: a player or hardware decoder receives a lesson's main programme.
- `sessions`: each WHIP or WHEP session is a LiveRoom participant behind an HTTP resource.
- `common`, `sdp`: CORS, SDP bodies and plain-text errors; reading an offer's m-lines.

Media goes through the live Room and `media.interface` like any participant's. See
docs/whip-whep.md.
"""

from __future__ import annotations

from aiohttp import web

from .sessions import INGEST, Sessions


async def _wait_for_sessions(app: web.Application) -> None:
    await app[INGEST].close()  # the Rooms closed (and ended their Sessions) before this


def setup(app: web.Application) -> None:
    from . import whep, whip

    app[INGEST] = Sessions()
    app.on_cleanup.append(_wait_for_sessions)
    whip.setup(app)
    whep.setup(app)
