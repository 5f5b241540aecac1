"""The node registry in Redis: each node's heartbeat and the Rooms' sticky placement.

Keys (under a prefix, "kelian:" by default): `node:<id>`, a hash of `NodeLoad` that expires
`ttl_s` after the last heartbeat, so a killed node vanishes by itself; `nodes`, the set of ids
to look for (cleaned while reading); `node:<id>:drain`, set by `kelian node drain` (the node
takes no new Rooms or participants; a restarted node starts undrained); `room:<lesson id>`,
the node holding a Room; `room:<lesson id>:lock`, held for a moment while a Room's node is
chosen; `room:<lesson id>:receivers` (a broadcast's receivers per node) and `:edges` (the
nodes that serve it besides its origin), for the cascade; `room:<lesson id>:classrooms`, where
its classrooms are (whereabouts.py); `ingest:<resource id>`, the node of a WHIP or WHEP Session;
`waiting:<classroom id>`, the node where a classroom's encoder waits for its lesson; and
`cluster-secret`, which the nodes show each other. Commands between nodes go over the channels
`node:<id>:do` (commands.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..config import Settings
from .load import LoadMeter, NodeLoad, Usage
from .placement import Capacity, alive, choose_node

log = logging.getLogger("kelian.cluster")

PREFIX = "kelian:"
ROOM_TTL_S = 12 * 3600  # forgets the placement of a lesson nobody asks about for half a day
# Sets the placement to ARGV[1] only if it is still ARGV[2] ("" for none), as read.
_CLAIM = """local now = redis.call('get', KEYS[1]) or ''
if now == ARGV[2] then return redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
return 0"""
# Counts one more receiver on node ARGV[1] unless it has ARGV[2] already (-1: no limit).
_TAKE_SLOT = """local n = tonumber(redis.call('hget', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) >= 0 and n >= tonumber(ARGV[2]) then return 0 end
redis.call('hincrby', KEYS[1], ARGV[1], 1)
redis.call('expire', KEYS[1], ARGV[3])
return 1"""
# One receiver fewer on node ARGV[1], never below none.
_DROP_SLOT = """local n = tonumber(redis.call('hget', KEYS[1], ARGV[1]) or '0')
if n > 0 then redis.call('hincrby', KEYS[1], ARGV[1], -1) end
return 0"""
# Deletes the lock only if it is still ours: it may have expired and been taken since.
_UNLOCK = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1])
else return 0 end"""


def node_url(settings: Settings) -> str:
    """Where the other nodes reach this one: its listening address, not the public URL the
    proxy serves for all of them."""
    wildcard = settings.host in ("", "0.0.0.0", "::")
    host = settings.node_host or (socket.gethostname() if wildcard else settings.host)
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.tls_cert is not None else "http"
    return f"{scheme}://{host}:{settings.port}"


def connect(url: str) -> Redis:
    # Timeouts, so a Redis that vanished without closing the connection costs one interval.
    return Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


async def read_nodes(redis: Redis, prefix: str = PREFIX) -> list[NodeLoad]:
    """Every node with a live heartbeat, by id; ids whose hash expired leave the set."""
    ids = sorted(m.decode() for m in await redis.smembers(f"{prefix}nodes"))
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for node_id in ids:
            pipe.hgetall(f"{prefix}node:{node_id}")
        hashes = await pipe.execute()
    nodes: list[NodeLoad] = []
    gone: list[str] = []
    for node_id, data in zip(ids, hashes, strict=True):
        try:
            nodes.append(NodeLoad.from_dict(data))
        except (KeyError, ValueError):
            gone.append(node_id)  # expired (an empty hash), or not a heartbeat
    if gone:
        await redis.srem(f"{prefix}nodes", *gone)
    return nodes


def drain_key(node_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}node:{node_id}:drain"


async def request_drain(redis: Redis, node_id: str, drain: bool = True,
                        prefix: str = PREFIX) -> None:
    """Ask a node to drain (or to take work again); it follows at its next heartbeat."""
    if drain:
        await redis.set(drain_key(node_id, prefix), "1")
    else:
        await redis.delete(drain_key(node_id, prefix))


class NodeRegistry:
    """This node's heartbeat every `interval_s`, and the view of all nodes. Redis being down
    never stops the node: one warning, then a retry at every interval."""

    def __init__(self, redis_url: str, node_id: str, url: str, load_fn: Callable[[], Usage],
                 *, interval_s: float = 5.0, ttl_s: float = 15.0, prefix: str = PREFIX,
                 clock: Callable[[], float] = time.time,
                 on_drain: Callable[[bool], None] | None = None) -> None:
        self.node_id = node_id
        self.url = url
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.draining = False
        self._on_drain = on_drain  # told when `kelian node drain` turns draining on or off
        self._load_fn = load_fn
        self._clock = clock
        self._started_at = clock()
        self._meter = LoadMeter()
        self._redis = connect(redis_url)
        self._task: asyncio.Task[None] | None = None
        self._outage = False

    @property
    def key(self) -> str:
        return f"{self.prefix}node:{self.node_id}"

    @property
    def running(self) -> bool:
        """The heartbeat task is on (also while Redis is down)."""
        return self._task is not None and not self._task.done()

    def load(self) -> NodeLoad:
        usage = self._load_fn()
        cpu, packets_per_s = self._meter.rates(usage)
        return NodeLoad(node_id=self.node_id, url=self.url, started_at=self._started_at,
                        cpu=cpu, rooms=usage.rooms, participants=usage.participants,
                        packets_per_s=packets_per_s, draining=self.draining,
                        seen_at=self._clock())

    async def beat(self) -> None:
        """One heartbeat; raises RedisError or OSError when Redis cannot be reached."""
        draining = bool(await self._redis.exists(drain_key(self.node_id, self.prefix)))
        if draining != self.draining:
            self.draining = draining
            log.warning("node %s %s", self.node_id,
                        "drains: no new rooms or participants" if draining else "takes work again")
            if self._on_drain is not None:
                self._on_drain(draining)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping=self.load().to_dict())
            pipe.pexpire(self.key, int(self.ttl_s * 1000))
            pipe.sadd(f"{self.prefix}nodes", self.node_id)
            await pipe.execute()

    async def drain(self) -> None:
        """Drain this node now (it stops: `hand_over`), without waiting for the next beat."""
        await request_drain(self._redis, self.node_id, prefix=self.prefix)
        self.draining = True  # as the next beat would read it, without calling on_drain

    async def start(self) -> None:
        """Start beating. A node (re)starts undrained: a drain asked of its predecessor, before
        an upgrade, is done."""
        with contextlib.suppress(RedisError, OSError):  # Redis down: the first beat says so
            await self._redis.delete(drain_key(self.node_id, self.prefix))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kelian-node-registry")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
                if self._outage:
                    log.info("node registry: Redis is back")
                self._outage = False
            except (RedisError, OSError) as exc:
                if not self._outage:
                    log.warning("node registry: Redis unreachable (%s); retrying every %g s",
                                exc, self.interval_s)
                self._outage = True
            except Exception:  # a failing load figure must not end the heartbeats
                log.exception("node registry: heartbeat failed")
            await asyncio.sleep(self.interval_s)

    async def nodes(self) -> list[NodeLoad]:
        return await read_nodes(self._redis, self.prefix)

    async def place(self, lesson_id: int, *, capacity: Capacity | None = None,
                    lock_s: float = 5.0, prefer: str | None = None) -> NodeLoad | None:
        """The node holding the lesson's Room: where it is already while that node is alive
        and not draining, else `prefer` (where its classroom's encoder waits) on the same
        terms, else the one with the most headroom; recorded for the next caller. None when
        no node is alive. Raises RedisError or OSError when Redis is down."""
        room = f"{self.prefix}room:{lesson_id}"
        lock, token = f"{room}:lock", secrets.token_hex(8)
        deadline = asyncio.get_running_loop().time() + lock_s
        # A short lock: two nodes placing one Room at once must not choose differently.
        while not await self._redis.set(lock, token, nx=True, px=int(lock_s * 1000)):
            if asyncio.get_running_loop().time() > deadline:
                break  # its holder died without unlocking; the lock expires about now anyway
            await asyncio.sleep(0.05)
        try:
            owner = await self._redis.get(room)
            sticky = owner.decode() if owner is not None else prefer
            chosen = choose_node(await self.nodes(), now=self._clock(),
                                 stale_after_s=self.ttl_s, sticky=sticky, capacity=capacity)
            if chosen is None:
                return None
            await self._redis.set(room, chosen.node_id, ex=ROOM_TTL_S)
            return chosen
        finally:
            await self._redis.eval(_UNLOCK, 1, lock, token)  # type: ignore[misc]

    async def where(self, lesson_id: int) -> NodeLoad | None:
        """The live node the lesson's Room is placed on, if any (placing nothing)."""
        return await self._live_node(await self._redis.get(f"{self.prefix}room:{lesson_id}"))

    async def _live_node(self, node_id: bytes | None) -> NodeLoad | None:
        if node_id is None:
            return None
        return next((n for n in await self.nodes() if n.node_id == node_id.decode()
                     and alive(n, self._clock(), self.ttl_s)), None)

    async def claim(self, lesson_ids: list[int]) -> list[int]:
        """This node holds these lessons' Rooms: keep their placement here where it is missing
        (expired, or lost with Redis), and return those placed on another live node meanwhile
        (this node's heartbeats stalled and a join placed them again): two Rooms of one lesson
        must not go on, so this node lets them go."""
        if not lesson_ids:
            return []
        keys = [f"{self.prefix}room:{lesson_id}" for lesson_id in lesson_ids]
        owners = await self._redis.mget(keys)
        live = {n.node_id for n in await self.nodes() if alive(n, self._clock(), self.ttl_s)}
        elsewhere = []
        for lesson_id, key, owner in zip(lesson_ids, keys, owners, strict=True):
            name = owner.decode() if owner is not None else None
            if name == self.node_id:
                continue
            if name in live:
                elsewhere.append(lesson_id)
            else:  # missing, or on a node that is gone: here, unless someone placed it now
                await self._redis.eval(_CLAIM, 1, key, self.node_id, name or "",
                                       ROOM_TTL_S)  # type: ignore[misc]
        return elsewhere

    async def secret(self) -> str:
        """The secret the nodes of this Redis share (made by the first to ask), for the
        requests they make of each other."""
        key = f"{self.prefix}cluster-secret"
        await self._redis.set(key, secrets.token_urlsafe(32), nx=True)
        value = await self._redis.get(key)
        assert value is not None
        return value.decode()

    # Cascade: a broadcast's receivers across nodes -----------------------------------------------

    async def receivers(self, lesson_id: int) -> dict[str, int]:
        """Receivers of the lesson per node, as counted (see `count_receiver`)."""
        raw = await self._redis.hgetall(f"{self.prefix}room:{lesson_id}:receivers")
        return {k.decode(): int(v) for k, v in raw.items()}

    async def count_receiver(self, lesson_id: int, node_id: str,
                             limit: int | None = None) -> bool:
        """One more receiver sent to `node_id` (the node serving it uncounts it when it leaves),
        unless that would take it over `limit`: False then, and nothing counted. Atomic, so
        receivers joining at once through several nodes do not overshoot a node's share."""
        key = f"{self.prefix}room:{lesson_id}:receivers"
        taken = await self._redis.eval(_TAKE_SLOT, 1, key, node_id,  # type: ignore[misc]
                                       -1 if limit is None else limit, ROOM_TTL_S)
        return bool(taken)

    async def uncount_receiver(self, lesson_id: int, node_id: str) -> None:
        """A receiver counted on `node_id` left (or never got there)."""
        await self._redis.eval(_DROP_SLOT, 1, f"{self.prefix}room:{lesson_id}:receivers",  # type: ignore[misc]
                               node_id)

    async def edge_for(self, lesson_id: int, origin: str, limit: int) -> NodeLoad | None:
        """A node to serve one more of the lesson's receivers besides its origin, the receiver
        counted there: one of its edges with room under `limit`, else a new one chosen by load
        (recorded). None when every live node is an edge already full, or draining."""
        edges_key = f"{self.prefix}room:{lesson_id}:edges"
        edges = {m.decode() for m in await self._redis.smembers(edges_key)}
        now = self._clock()
        nodes = [n for n in await self.nodes() if alive(n, now, self.ttl_s) and not n.draining
                 and n.node_id != origin]
        for node in sorted(nodes, key=lambda n: n.node_id):
            if node.node_id in edges and await self.count_receiver(lesson_id, node.node_id,
                                                                   limit):
                return node
        fresh = [n for n in nodes if n.node_id not in edges]
        chosen = choose_node(fresh, now=now, stale_after_s=self.ttl_s)
        if chosen is not None:
            await self._redis.sadd(edges_key, chosen.node_id)
            await self._redis.expire(edges_key, ROOM_TTL_S)
            await self.count_receiver(lesson_id, chosen.node_id)
        return chosen

    # Ingest: WHIP/WHEP Sessions and waiting encoders ------------------------------------------

    async def _note(self, key: str, here: bool) -> None:
        """`key` names this node (`here`), or no longer does if it still names it."""
        if here:
            await self._redis.set(key, self.node_id, ex=ROOM_TTL_S)
        else:
            await self._redis.eval(_UNLOCK, 1, key, self.node_id)  # type: ignore[misc]

    async def note_session(self, resource_id: str, here: bool) -> None:
        """A WHIP or WHEP Session begins (`here`) or ends on this node: a DELETE reaching
        another node finds it."""
        await self._note(f"{self.prefix}ingest:{resource_id}", here)

    async def session_node(self, resource_id: str) -> NodeLoad | None:
        """The live node with this Session, if any."""
        return await self._live_node(await self._redis.get(f"{self.prefix}ingest:{resource_id}"))

    async def note_waiting(self, classroom_id: int, waiting: bool) -> None:
        """A classroom's encoder waits for its lesson on this node (or no longer does): the
        lesson, when it starts, is placed here (`place(prefer=…)`)."""
        await self._note(f"{self.prefix}waiting:{classroom_id}", waiting)

    async def waiting_node(self, classroom_id: int) -> str | None:
        node = await self._redis.get(f"{self.prefix}waiting:{classroom_id}")
        return node.decode() if node is not None else None

    async def unplace(self, lesson_id: int) -> None:
        """Forget where the lesson's Room is (if it is here): its next join places it again,
        on another node while this one drains."""
        await self._redis.eval(_UNLOCK, 1, f"{self.prefix}room:{lesson_id}",  # type: ignore[misc]
                               self.node_id)

    async def _halt(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Stop beating and leave the heartbeat to expire (what a killed node amounts to)."""
        await self._halt()
        await self._redis.aclose()

    async def stop(self) -> None:
        """Stop beating and leave the registry at once."""
        await self._halt()
        try:
            await self._redis.delete(self.key)
            await self._redis.srem(f"{self.prefix}nodes", self.node_id)
        except (RedisError, OSError) as exc:
            log.warning("node registry: could not leave (%s); the heartbeat expires", exc)
        await self._redis.aclose()
