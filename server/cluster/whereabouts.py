"""Where each lesson's classrooms are, across nodes, for the teacher's console.

A lesson's classrooms may be in Rooms on several nodes (its origin and a cascade's edges), and
the console's poll may reach a node holding none of them. So every node writes, at each
heartbeat, the classrooms present in and dropped from each of its Rooms to Redis (the hash
`room:<lesson id>:classrooms`, one field per node), and whoever answers the poll reads the
union. An entry older than the heartbeats' time to live is a dead node's, and ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from redis.exceptions import RedisError

from ..live.room import LiveRoom
from .registry import PREFIX, ROOM_TTL_S, connect

log = logging.getLogger("kelian.cluster.whereabouts")


@dataclass(frozen=True)
class Whereabouts:
    """The classrooms in a lesson's Room(s), and when each that left unplanned last did."""

    present: frozenset[str] = frozenset()
    dropped: Mapping[str, datetime] = field(default_factory=dict)

    @classmethod
    def of_room(cls, room: LiveRoom | None) -> Whereabouts:
        if room is None or room.closed:
            return cls()
        return cls(frozenset(p.classroom for p in room.participants.values() if p.classroom),
                   dict(room.dropped))

    def merged(self, other: Whereabouts) -> Whereabouts:
        dropped = dict(self.dropped)
        for label, at in other.dropped.items():
            if label not in dropped or dropped[label] < at:
                dropped[label] = at
        return Whereabouts(self.present | other.present, dropped)

    def to_json(self, at: float) -> str:
        return json.dumps({"at": at, "present": sorted(self.present),
                           "dropped": {k: v.isoformat() for k, v in self.dropped.items()}})

    @classmethod
    def from_json(cls, raw: bytes | str) -> tuple[float, Whereabouts]:
        """(when it was written, what it says); ValueError, KeyError or TypeError if garbled."""
        data = json.loads(raw)
        present = frozenset(str(label) for label in data["present"])
        dropped = {str(k): datetime.fromisoformat(v) for k, v in data["dropped"].items()}
        return float(data["at"]), cls(present, dropped)


class SharedWhereabouts:
    """This node's Rooms' whereabouts written to Redis, and the other nodes' read back."""

    def __init__(self, redis_url: str, node_id: str, *, ttl_s: float, prefix: str = PREFIX,
                 clock: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._clock = clock
        self._redis = connect(redis_url)
        self._written: set[int] = set()  # lessons with an entry of this node's

    def key(self, lesson_id: int) -> str:
        return f"{self.prefix}room:{lesson_id}:classrooms"

    async def publish(self, here: Mapping[int, Whereabouts]) -> None:
        """Write the whereabouts of each lesson with a Room here, and remove this node's entries
        of lessons it no longer has. Raises RedisError or OSError when Redis is down."""
        now = self._clock()
        async with self._redis.pipeline(transaction=False) as pipe:
            for lesson_id, whereabouts in here.items():
                pipe.hset(self.key(lesson_id), self.node_id, whereabouts.to_json(now))
                pipe.expire(self.key(lesson_id), ROOM_TTL_S)
            for lesson_id in self._written - here.keys():
                pipe.hdel(self.key(lesson_id), self.node_id)
            await pipe.execute()
        self._written = set(here)

    async def read(self, lesson_id: int) -> Whereabouts:
        """The union of the other nodes' live entries for the lesson (this node's own Room is
        read directly, fresher). Raises RedisError or OSError when Redis is down."""
        entries = await self._redis.hgetall(self.key(lesson_id))
        union = Whereabouts()
        for node, raw in entries.items():
            if node.decode() == self.node_id:
                continue
            try:
                at, whereabouts = Whereabouts.from_json(raw)
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("lesson %d: unreadable whereabouts from node %s", lesson_id,
                            node.decode(errors="replace"))
                continue
            if self._clock() - at <= self.ttl_s:  # else a dead node's: its Room is gone
                union = union.merged(whereabouts)
        return union

    async def run(self, rooms: Callable[[], list[LiveRoom]], interval_s: float) -> None:
        """Publish every interval until cancelled; Redis down costs nothing but the figures
        (the registry's heartbeat says so)."""
        while True:
            try:
                await self.publish({room.lesson.lesson_id: Whereabouts.of_room(room)
                                    for room in rooms()})
            except (RedisError, OSError):
                pass
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        """Take this node's entries out (the node stops; its Rooms are closed)."""
        try:
            await self.publish({})
        except (RedisError, OSError) as exc:
            log.debug("whereabouts not removed (%s); they age out", exc)
        await self._redis.aclose()
