"""Which node serves each lesson, seen from this node, and what this node does for lessons it
does not hold (LiveLessons' `Elsewhere`).

Every node may start or end a lesson (its teacher's request, the scheduler) and every node may
receive a participant's socket; the lesson's Room is on one node, chosen by load when it is
first needed (`NodeRegistry.place`). Starting, ending and starting the recording of a lesson
held elsewhere become commands to that node (commands.py); a socket that joins it is forwarded
there (server/signalling/forward.py). Redis down: this node serves what it is asked, as one
node does.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from aiohttp import ClientSession
from redis.exceptions import RedisError

from ..live.room import LessonInfo
from .commands import Command, NodeCommands, Op
from .load import NodeLoad
from .registry import NodeRegistry

log = logging.getLogger("kelian.cluster.routing")


class NoNode(Exception):
    """No live node can take the lesson now, and this one drains: the client comes back."""


@dataclass(frozen=True)
class Route:
    """Where a participant of a lesson is served: `node` (None: this node), as the lesson's
    origin or, for a broadcast's receiver beyond the origin's share, as an edge of it."""

    node: NodeLoad | None
    edge: bool = False


class Placement:
    def __init__(self, registry: NodeRegistry, commands: NodeCommands, http: ClientSession,
                 max_receivers: int):
        self.registry = registry
        self.commands = commands
        self.http = http  # sockets forwarded to other nodes, cascade links
        self.max_receivers = max_receivers  # of a broadcast, per node (the cascade)
        self._secret: str | None = None

    async def secret(self) -> str:
        """What the nodes show each other (registry.secret). RedisError or OSError."""
        if self._secret is None:
            self._secret = await self.registry.secret()
        return self._secret

    async def node_headers(self) -> dict[str, str]:
        """What a request to another node shows (its `Authorization`)."""
        return {"Authorization": f"Bearer {await self.secret()}"}

    async def is_node(self, shown: str | None) -> bool:
        """Whether a request shows the nodes' secret (compared in constant time)."""
        if not shown:
            return False
        try:
            secret = await self.secret()
        except (RedisError, OSError):
            return False
        return secrets.compare_digest(shown.encode(), secret.encode())

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    async def owner(self, lesson_id: int, classroom_id: int | None = None) -> NodeLoad | None:
        """The other node that holds (or now gets) the lesson's Room; None when it is this node,
        or no node is alive, or Redis cannot be reached (this node serves it then, unless it
        drains: NoNode). A new Room goes where the encoder of `classroom_id` (the lesson's
        hub classroom) waits, if it does."""
        try:
            prefer = await self.registry.waiting_node(classroom_id) \
                if classroom_id is not None else None
            node = await self.registry.place(lesson_id, prefer=prefer)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); served here", lesson_id, exc)
            return None
        if node is None and self.registry.draining:
            raise NoNode(f"no node can take lesson {lesson_id} now")
        return None if node is None or node.node_id == self.node_id else node

    async def route(self, lesson_id: int, cascade: bool) -> Route:
        """Where to serve a participant: the lesson's origin node; for a receiver of a
        broadcast (`cascade`) whose origin serves `max_receivers` already, an edge node. NoNode
        when this node drains and no node can take the lesson."""
        origin = await self.owner(lesson_id)
        if not cascade:
            return Route(origin)
        origin_id = origin.node_id if origin is not None else self.node_id
        try:
            if await self.registry.count_receiver(lesson_id, origin_id, self.max_receivers):
                return Route(origin)
            edge = await self.registry.edge_for(lesson_id, origin_id, self.max_receivers)
            if edge is None:  # every node is full: the origin takes it all the same
                await self.registry.count_receiver(lesson_id, origin_id)
                return Route(origin)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); served by its origin", lesson_id,
                        exc)
            return Route(origin)
        return Route(None if edge.node_id == self.node_id else edge, edge=True)

    async def uncount(self, lesson_id: int, node_id: str) -> None:
        """A broadcast receiver counted on `node_id` left it, or never reached it."""
        try:
            await self.registry.uncount_receiver(lesson_id, node_id)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); a receiver stays counted",
                        lesson_id, exc)

    async def held_elsewhere(self, lesson_id: int) -> bool:
        """Whether a live node other than this one holds the lesson's Room (placing nothing)."""
        try:
            node = await self.registry.where(lesson_id)
        except (RedisError, OSError):
            return False
        return node is not None and node.node_id != self.node_id

    async def open_elsewhere(self, lesson: LessonInfo) -> bool:
        """Have the lesson's node open its Room, if that is another node; False: open it here."""
        try:
            owner = await self.owner(lesson.lesson_id, lesson.host_classroom_id)
        except NoNode:
            return False  # opened here all the same: the lesson starts now
        if owner is None:
            return False
        return await self._send(owner.node_id, Command(Op.open, lesson.lesson_id, lesson.title,
                                                       lesson.kind.value, lesson.record))

    async def end_elsewhere(self, lesson_id: int) -> None:
        """Have the node holding the lesson's Room, if another, close it."""
        await self._tell_holder(Command(Op.end, lesson_id))

    async def record_elsewhere(self, lesson_id: int) -> bool:
        """Have the node holding the lesson's Room, if another, start recording it."""
        return await self._tell_holder(Command(Op.record, lesson_id))

    async def let_go(self, lesson_id: int) -> None:
        """This node closes the lesson's Room (it drains): its next join places it elsewhere."""
        try:
            await self.registry.unplace(lesson_id)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); its placement expires by itself",
                        lesson_id, exc)

    async def _tell_holder(self, command: Command) -> bool:
        try:
            node = await self.registry.where(command.lesson_id)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); %s not passed on", command.lesson_id,
                        exc, command.op.value)
            return False
        if node is None or node.node_id == self.node_id:
            return False
        return await self._send(node.node_id, command)

    async def _send(self, node_id: str, command: Command) -> bool:
        try:
            delivered = await self.commands.send(node_id, command)
        except (RedisError, OSError) as exc:
            log.warning("lesson %d: Redis unreachable (%s); %s not sent", command.lesson_id, exc,
                        command.op.value)
            return False
        if not delivered:
            log.warning("lesson %d: node %s did not listen to %s", command.lesson_id,
                        node_id, command.op.value)
        return delivered
