"""Standard protocols for classroom hardware and players, beside the /ws signalling:

- `whip`: WHIP ingest (RFC 9725): an encoder publishes into its classroom's running lesson.
- `standby`: WHIP encoders wait, connected, for their classroom's next lesson.
- `whep`: WHEP egress: a player or hardware decoder receives a lesson's main programme.
- `rtsp`: the node pulls the RTSP cameras of classrooms whose lesson is live here.
- `rtmp`: the node's RTMP port, where encoders push into their classroom's live lesson.
- `publish`: a Source publishing into its classroom's live lesson (WHIP, RTSP, RTMP alike).
- `sessions`: each WHIP or WHEP session is a LiveRoom participant behind an HTTP resource.
- `nodes`: with several nodes, requests passed to the node holding the lesson or Session.
- `pushes`: with several nodes, waiting encoders pushed to the node holding their lesson.
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
    from . import nodes, rtmp, rtsp, standby, whep, whip

    app[INGEST] = Sessions()
    # Appended after the app's media context: it starts after the Rooms' and stops before.
    app.cleanup_ctx.append(rtsp.pulling)
    app.cleanup_ctx.append(rtmp.listening)
    app.cleanup_ctx.append(standby.standing_by)
    app.cleanup_ctx.append(nodes.across_nodes)  # after the cluster's context and the standby
    app.on_cleanup.append(_wait_for_sessions)
    whip.setup(app)
    whep.setup(app)
