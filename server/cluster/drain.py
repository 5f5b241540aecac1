"""What a node does for the others: drain when `kelian node drain` asks it to (or it stops
while another node is alive), carry out the commands other nodes send it (commands.py), and
keep its Rooms' placement true."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from redis.exceptions import RedisError

from ..health import DRAINING
from ..keys import LIVE, REGISTRY
from ..live.room import LessonInfo
from ..models import LessonKind
from ..signalling.codes import CloseCode, LeaveReason
from ..signalling.connection import SOCKETS
from .commands import Command, Op
from .placement import alive

log = logging.getLogger("kelian.cluster.drain")


async def drain_node(app: web.Application) -> None:
    """Empty this node at once: every lesson's Room closes without ending the lesson, and every
    signalling socket (its own participants', and those it forwards to other nodes) closes
    with 4307. The clients reconnect at once; their lessons open on other nodes, as this one
    says in its heartbeat that it drains. Recordings close here and go on there in a new
    Recording of the same lesson."""
    try:
        await app[REGISTRY].beat()  # others must see the drain before anyone comes back
    except (RedisError, OSError) as exc:
        log.warning("drain: heartbeat failed (%s)", exc)
    rooms = await app[LIVE].move_away()
    sockets = app[SOCKETS].close_all_now(CloseCode.moved, LeaveReason.moved)
    log.warning("node drained: %d room(s) and %d socket(s) sent to other nodes", rooms, sockets)


async def hand_over(app: web.Application) -> None:
    """On SIGTERM (an upgrade, a restart), before the sockets close: with another live node,
    leave as a drain does, so the lessons go on there at once (clients reconnect within a
    second, recordings are resumed) instead of waiting for this node to come back. A lone node
    stops as one always did (its clients wait and reconnect to it)."""
    registry = app.get(REGISTRY)
    if registry is None or registry.draining:
        return
    try:
        others = [n for n in await registry.nodes() if n.node_id != registry.node_id
                  and not n.draining and alive(n, time.time(), registry.ttl_s)]
        if not others:
            return
        await registry.drain()
    except (RedisError, OSError) as exc:
        log.warning("stopping: Redis unreachable (%s); lessons wait for this node", exc)
        return
    app[DRAINING].draining = True
    log.warning("stopping: lessons handed over to %s", ", ".join(n.node_id for n in others))
    await drain_node(app)


async def obey(app: web.Application, command: Command) -> None:
    live = app[LIVE]
    if command.op is Op.open:
        await live.start_here(LessonInfo(command.lesson_id, command.title,
                                         LessonKind(command.kind), command.record))
    elif command.op is Op.end:
        await live.end(command.lesson_id, here_only=True)
    elif command.op is Op.record:
        await live.record(command.lesson_id)


async def keep_placement(app: web.Application, interval_s: float) -> None:
    """Every interval: the placement of this node's Rooms stays here; a Room placed on another
    node meanwhile (this node looked dead for a moment) is let go, its participants sent there,
    so a lesson never runs in two Rooms."""
    while True:
        await asyncio.sleep(interval_s)
        live = app[LIVE]
        try:
            lost = await app[REGISTRY].claim([r.lesson.lesson_id for r in live.held()])
        except (RedisError, OSError):
            continue  # the registry says so once
        if lost:
            log.warning("lessons %s are placed on other nodes now: their participants go there",
                        lost)
            await live.move_away(lost, let_go=False)
