"""Several real `kelian serve` nodes on loopback sharing one PostgreSQL database and one Redis,
and participants that behave like terminals: they reconnect by themselves (at once after 4307,
after a second otherwise), join again and publish again."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import ClientError, ClientSession, ClientWSTimeout
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from loadtest.kelian import KelianServer
from server.cluster import read_nodes
from tests.conftest import skip_or_fail
from tests.live.media_client import MediaClient
from tests.live.wsclient import SignalClient

T = TypeVar("T")
FINAL = {4401, 4409, 4410}  # close codes after which a terminal stays closed
MOVED = 4307


def redis_for_nodes(url: str) -> tuple[str, str]:
    """Checks that the Redis at `url` answers; a key prefix of its own for one test's nodes
    (KELIAN_REDIS_PREFIX), so test runs sharing the Redis do not meet."""
    client = SyncRedis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        skip_or_fail(f"Redis at {url} is unreachable: {exc!r}", "KELIAN_TEST_REQUIRE_REDIS")
    finally:
        client.close()
    return url, f"kelian-test-{secrets.token_hex(6)}:"


def forget_prefix(url: str, prefix: str) -> None:
    client = SyncRedis.from_url(url, socket_connect_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def start_nodes(count: int, settings: dict[str, str], admin_password: str | None = None,
                loopback_ice: bool = True) -> list[KelianServer]:
    """`count` nodes on one database and Redis (`settings`), one after the other: the first
    makes the schema (and loads the demo with KELIAN_DEMO), the others find it. Every node has
    an admin with the first one's password (`admin_password`: one the database has)."""
    nodes: list[KelianServer] = []
    try:
        for _ in range(count):
            node = KelianServer(settings=settings, admin_password=admin_password,
                                loopback_ice=loopback_ice)
            admin_password = node.target.admin_password
            nodes.append(node)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[KelianServer]) -> None:
    for node in nodes:
        node.stop()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a loop of its own in another thread (beside a sync Playwright)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def node_id(server: KelianServer) -> str:
    """As the node names itself (server/app.py): hostname:port."""
    import socket

    return f"{socket.gethostname()}:{server.port}"


async def room_counts(redis: Redis, prefix: str) -> dict[str, int]:
    """Rooms per live node, from their heartbeats."""
    return {n.node_id: n.rooms for n in await read_nodes(redis, prefix)}


async def placed(redis: Redis, prefix: str, lesson_id: int) -> str | None:
    owner = await redis.get(f"{prefix}room:{lesson_id}")
    return None if owner is None else owner.decode()


@dataclass
class Member:
    """One participant: a signalling socket to `url` (any node) and its media."""

    http: ClientSession
    urls: list[str]  # the nodes it may reach, first choice first (a load balancer's pool)
    token: str
    lesson_id: int
    sources: list[str]
    name: str
    signal: SignalClient | None = None
    media: MediaClient | None = None
    closes: list[tuple[float, int | None]] = field(default_factory=list)  # when, close code
    joins: list[float] = field(default_factory=list)  # when each join succeeded
    state: dict[str, Any] = field(default_factory=dict)  # the room state of the last join
    errors: list[str] = field(default_factory=list)
    _turn: int = 0  # which of `urls` it tries
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"member-{self.name}")

    async def _run(self) -> None:
        while True:
            try:
                await self._session()
            except (ClientError, OSError, TimeoutError):
                self._turn += 1  # that node is gone: the next one, as a load balancer would
            except AssertionError as exc:  # refused or closed early: again, as a terminal does
                self.errors.append(repr(exc)[:300])
            code = self.signal.close_code if self.signal is not None else None
            self.closes.append((time.monotonic(), code))
            await self._drop_media()
            if code in FINAL:
                return
            await asyncio.sleep(0.1 if code == MOVED else 1.0)

    async def _session(self) -> None:
        self.signal = None
        url = self.urls[self._turn % len(self.urls)]
        ws = await self.http.ws_connect(url + "/ws", timeout=ClientWSTimeout(ws_close=5))
        self.signal = signal = SignalClient(ws, self.name)
        await signal.ok("auth", token=self.token)
        reply = await signal.request("join", lesson_id=self.lesson_id)
        if reply["type"] != "ok":
            await signal.close()
            raise AssertionError(f"{self.name}: join refused: {reply}")
        self.state = reply.get("room") or {}
        self.media = MediaClient(signal)
        if self.sources:
            published = await self.media.publish(self.sources)
            assert published["type"] == "ok", published
        self.joins.append(time.monotonic())
        await signal.closed(timeout=None)  # type: ignore[arg-type]

    async def _drop_media(self) -> None:
        media, self.media = self.media, None
        if media is not None:
            await media.close()

    async def receiving(self, kinds: list[str]) -> bool:
        """Whether its current connection receives packets on m-lines of these kinds."""
        media = self.media
        if media is None or media.active_kinds() != sorted(kinds):
            return False
        return all(n > 0 for n in await media.packets())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.signal is not None:
            with contextlib.suppress(Exception):
                await self.signal.close()
        await self._drop_media()


async def print_state(members: list[Member], nodes: list[KelianServer], tail: int = 5000
                      ) -> None:
    """What each participant and node was doing, for a failed test's output."""
    for m in members:
        kinds = m.media.active_kinds() if m.media else None
        packets = await m.media.packets() if m.media else None
        print(f"{m.name}: joins {m.joins} closes {m.closes} kinds {kinds} packets {packets} "
              f"errors {m.errors[-3:]}")
    for server in nodes:
        print(f"--- {node_id(server)}\n{server.log_tail(tail)}")



async def all_receive(members: list[Member], kinds: Mapping[str, list[str]],
                      since: float = 0.0) -> bool:
    """Whether every member joined after `since` and receives media of its `kinds[name]`."""
    for m in members:
        if not m.joins or m.joins[-1] < since or not await m.receiving(kinds[m.name]):
            return False
    return True


async def stop_members(members: list[Member], redis: Redis) -> None:
    for m in members:
        await m.stop()
    await redis.aclose()


@contextlib.asynccontextmanager
async def node_cluster(count: int, db_url: str, redis_url: str, folder: Path,
                       **settings: str) -> AsyncIterator[tuple[list[KelianServer], str, str]]:
    """`count` nodes on the database and Redis (their own key prefix), library in `folder`,
    quick heartbeats (1 s, dead after 4 s), RTMP off, and `settings` (KELIAN_… = value).
    Yields the nodes, the Redis URL and the prefix; stops them and forgets the keys after."""
    url, prefix = redis_for_nodes(redis_url)
    env = {"KELIAN_DATABASE_URL": db_url, "KELIAN_REDIS_URL": url,
           "KELIAN_REDIS_PREFIX": prefix, "KELIAN_LIBRARY_DIR": str(folder / "library"),
           "KELIAN_RTMP_PORT": "0", "KELIAN_NODE_HEARTBEAT_S": "1", "KELIAN_NODE_TTL_S": "4",
           **settings}
    servers = await asyncio.to_thread(start_nodes, count, env)
    try:
        yield servers, url, prefix
    finally:
        await asyncio.to_thread(stop_nodes, servers)
        forget_prefix(url, prefix)
