"""WHIP and WHEP with several nodes (issue 8). A request may reach any node; the lesson's Room is
on one. So:

- a POST for a lesson another node holds (a player's, or an encoder's whose classroom is in a
  live lesson) is passed to that node, and its reply returned as it is: the client's media then
  flows to that node's relay directly, as its answer's candidates say;
- the node that creates a Session notes it in Redis, and a DELETE or PATCH reaching another node
  is passed to it;
- a node where a classroom's WHIP or RTMP encoder is connected (waiting or publishing) notes
  that too, and the classroom's next lesson is placed on it when it starts (routing.py), as an
  encoder's connection cannot move between nodes; a waiting WHIP encoder whose lesson another
  node holds all the same (a teaching point's) is pushed there (pushes.py).

Requests passed on carry the nodes' secret, so the node they reach serves them itself. Without
Redis none of this runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import ClientError, ClientTimeout, web
from redis.exceptions import RedisError

from ..cluster.load import NodeLoad
from ..cluster.routing import NoNode, Placement
from ..keys import PLACEMENT, SESSIONS
from ..logs import loggable_path
from ..signalling.forward import SECRET_HEADER
from .common import IngestError, reply
from .pushes import Pushes
from .rtmp import RTMP
from .sessions import INGEST
from .standby import STANDBY

log = logging.getLogger("kelian.ingest.nodes")

# WHIP and WHEP authenticate with bearer tokens only: no cookie goes between nodes.
PASSED_ON = ("Authorization", "Content-Type", "Origin", "If-Match", "User-Agent")
ANSWERED = ("Content-Type", "Location", "ETag", "Link", "Accept-Post", "Accept-Patch", "Allow",
            "WWW-Authenticate")
PASS_TIMEOUT_S = 15.0


async def _placement(request: web.Request) -> Placement | None:
    """The cluster's placement, unless there is none or another node passed this request on."""
    if await from_node(request):
        return None
    return request.app.get(PLACEMENT)


async def from_node(request: web.Request) -> bool:
    """Whether another node of this deployment made the request (it shows the nodes' secret)."""
    placement = request.app.get(PLACEMENT)
    return placement is not None and await placement.is_node(request.headers.get(SECRET_HEADER))


async def lesson_node(request: web.Request, lesson_id: int,
                      classroom_id: int | None = None) -> NodeLoad | None:
    """The other node holding (or now given) the lesson's Room; None: this node serves it."""
    placement = await _placement(request)
    if placement is None:
        return None
    try:
        return await placement.owner(lesson_id, classroom_id)
    except NoNode:
        raise IngestError(503, "this node is draining and no other node can take the lesson "
                               "now; try again in a few seconds", {"Retry-After": "5"}) from None


async def session_node(request: web.Request) -> NodeLoad | None:
    """The other node holding the Session of this request's path, if it is not here."""
    placement = await _placement(request)
    if placement is None:
        return None
    try:
        node = await placement.registry.session_node(request.match_info["resource"])
    except (RedisError, OSError):
        return None
    return None if node is None or node.node_id == placement.node_id else node


async def pass_on(request: web.Request, node: NodeLoad, body: bytes = b"") -> web.Response:
    """The request as `node` answers it."""
    placement = request.app[PLACEMENT]
    headers = {name: request.headers[name] for name in PASSED_ON if name in request.headers}
    try:
        headers[SECRET_HEADER] = await placement.secret()
        async with placement.http.request(
                request.method, node.url + request.path_qs, data=body, headers=headers,
                allow_redirects=False, timeout=ClientTimeout(total=PASS_TIMEOUT_S)) as answer:
            payload = await answer.read()
            kept = {name: answer.headers[name] for name in ANSWERED if name in answer.headers}
    except (ClientError, OSError, TimeoutError, RedisError) as exc:
        log.warning("%s %s: node %s cannot be reached: %r", request.method,
                    loggable_path(request.path), node.node_id, exc)
        raise IngestError(503, "the lesson's node cannot be reached; try again",
                          {"Retry-After": "2"}) from None
    log.info("%s %s passed to node %s: %d", request.method, loggable_path(request.path),
             node.node_id, answer.status, extra={"node": node.node_id})
    response = reply(answer.status, headers=kept)
    response.body = payload
    return response


async def across_nodes(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: with Redis, the node's Sessions and waiting encoders are noted there."""
    placement = app.get(PLACEMENT)
    if placement is None:
        yield
        return
    registry = placement.registry
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(_quietly(coro))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def waiting(classroom: int, here: bool) -> None:
        spawn(registry.note_waiting(classroom, here))

    app[INGEST].noted = lambda resource, here: spawn(registry.note_session(resource, here))
    encoders = [app[STANDBY], *([app[RTMP]] if RTMP in app else [])]  # WHIP, RTMP
    for holder in encoders:
        holder.noted = waiting
    pushes = Pushes(app[STANDBY], placement, app[SESSIONS])
    app[STANDBY].pushes = pushes
    pushing = asyncio.create_task(pushes.run(), name="kelian-ingest-pushes")
    yield
    pushing.cancel()
    app[STANDBY].pushes = None
    app[INGEST].noted = None
    for holder in encoders:
        holder.noted = None
    await asyncio.gather(pushing, *tasks, return_exceptions=True)


async def _quietly(coro: Coroutine[Any, Any, None]) -> None:
    try:
        await coro
    except (RedisError, OSError) as exc:  # the registry's heartbeat says Redis is down
        log.debug("not noted in Redis: %r", exc)


async def pass_to_session(request: web.Request, kind: str) -> web.Response:
    """A DELETE or PATCH for a Session that is not here: passed to its node, or 404."""
    node = await session_node(request)
    if node is None:
        raise IngestError(404, f"no such {kind} session (it ended, or the lesson did)")
    return await pass_on(request, node, await request.read())
