"""`GET /healthz` and `GET /readyz`: probes for Docker, Kubernetes, systemd watchdogs and proxies.

/healthz says the process answers (liveness: restart it when this fails). /readyz says the node
should be sent new participants: the database answers and the media plane is up, and the node is
not stopping; otherwise 503 with the reason, so a load balancer takes the node out of rotation
while its running lessons go on. Both are anonymous and say nothing about lessons or people.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .keys import ENGINE, LIVE

log = logging.getLogger("kelian.health")

DATABASE_TIMEOUT_S = 2.0  # a probe that hangs is worse than one that fails


class Draining:
    """Set once the node begins to stop, or while it drains (`kelian node drain`): a mutable
    holder, as the app's state is frozen by then."""

    def __init__(self) -> None:
        self.stopping = False
        self.draining = False


DRAINING = web.AppKey("draining", Draining)
NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=NO_STORE)


async def database_problem(engine: AsyncEngine) -> str | None:
    """None when the database answers `SELECT 1` in time, else why not."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"the database did not answer within {DATABASE_TIMEOUT_S:g} s"
    except Exception as exc:  # any driver error means "not ready"; the log has the details
        log.warning("readiness: the database is unreachable: %s", exc)
        return f"the database is unreachable ({type(exc).__name__})"
    return None


async def readyz(request: web.Request) -> web.Response:
    reason: str | None
    if request.app[DRAINING].stopping:
        reason = "the node is stopping"
    elif request.app[DRAINING].draining:
        reason = "the node is draining: it takes no new participants"
    elif LIVE not in request.app or ENGINE not in request.app:
        reason = "the node is still starting"
    else:
        reason = await database_problem(request.app[ENGINE])
    if reason is not None:
        return web.json_response({"status": "unavailable", "reason": reason}, status=503,
                                 headers=NO_STORE)
    return web.json_response({"status": "ready"}, headers=NO_STORE)


async def _draining(app: web.Application) -> None:
    app[DRAINING].stopping = True


def setup(app: web.Application) -> None:
    app[DRAINING] = Draining()
    app.on_shutdown.append(_draining)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
