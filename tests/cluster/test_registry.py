"""The node registry and sticky placement on a real Redis, each test under its own key prefix."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from server.cluster import NodeLoad, NodeRegistry, Usage, read_nodes, request_drain
from server.config import load_settings
from tests.helpers import eventually

Factory = Callable[..., NodeRegistry]


@pytest.fixture
async def registry(redis_url: str, prefix: str) -> AsyncIterator[Factory]:
    """Makes started-later registries on the test's prefix; stops what is left at the end."""
    made: list[NodeRegistry] = []

    def make(node_id: str, usage: Usage | None = None, **kwargs: float) -> NodeRegistry:
        kwargs = {"interval_s": 0.1, "ttl_s": 1.0} | kwargs
        reg = NodeRegistry(redis_url, node_id, f"http://{node_id}", lambda: usage or Usage(),
                           prefix=prefix, **kwargs)
        made.append(reg)
        return reg

    yield make
    for reg in made:
        await reg.stop()  # a second stop of a stopped one only fails quietly on its closed client


async def ids(reg: NodeRegistry) -> list[str]:
    return [n.node_id for n in await reg.nodes()]


async def listed(reg: NodeRegistry, want: list[str]) -> bool:
    return await ids(reg) == want


async def test_two_nodes_listed_with_their_load_and_one_leaves(registry: Factory) -> None:
    a = registry("a:8080", Usage(rooms=2, participants=7, forwarded={1: 10}))
    b = registry("b:8080")
    await a.start()
    await b.start()
    assert await eventually(lambda: listed(a, ["a:8080", "b:8080"]))
    load = next(n for n in await b.nodes() if n.node_id == "a:8080")
    assert (load.url, load.rooms, load.participants, load.draining) == ("http://a:8080", 2, 7,
                                                                        False)
    assert load.cpu >= 0 and load.packets_per_s >= 0

    await b.stop()
    assert await ids(a) == ["a:8080"]  # at once, not after the ttl


async def test_a_node_that_stops_beating_expires_after_its_ttl(registry: Factory,
                                                                redis_url: str,
                                                                prefix: str) -> None:
    a = registry("a:8080")
    dead = registry("dead:8080", ttl_s=1.0)
    await a.start()
    await dead.start()
    assert await eventually(lambda: listed(a, ["a:8080", "dead:8080"]))
    await dead.close()  # no goodbye, as a killed node
    assert "dead:8080" in await ids(a)
    assert await eventually(lambda: listed(a, ["a:8080"]), timeout=3)
    client = Redis.from_url(redis_url)
    try:  # and reading dropped it from the set
        assert await client.smembers(f"{prefix}nodes") == {b"a:8080"}
    finally:
        await client.aclose()


async def _place(reg: NodeRegistry, lesson_id: int) -> str | None:
    node = await reg.place(lesson_id)
    return None if node is None else node.node_id


async def test_placement_is_sticky_and_moves_when_the_owner_is_gone(registry: Factory) -> None:
    a = registry("a:8080")
    b = registry("b:8080")
    for reg in (a, b):
        await reg.beat()
    assert await a.where(7) is None
    first = await _place(a, 7)
    assert first in ("a:8080", "b:8080")
    other = b if first == "a:8080" else a
    owner = a if other is b else b
    where = await other.where(7)
    assert where is not None and where.node_id == first and where.url == owner.url

    await other.beat()  # the loads change; the Room stays
    assert [await _place(owner, 7), await _place(other, 7)] == [first, first]
    await other.unplace(7)  # only the owner can let go of it
    assert await _place(other, 7) == first
    await owner.stop()
    assert await other.where(7) is None  # placed on a node that is gone
    assert await _place(other, 7) == other.node_id
    assert await _place(other, 7) == other.node_id  # and sticks there
    await other.unplace(7)
    assert await other.where(7) is None


async def test_a_draining_node_gets_no_room_and_lets_its_rooms_go(registry: Factory) -> None:
    a, b = registry("a:8080"), registry("b:8080")
    await a.beat()
    assert await _place(b, 5) == "a:8080"  # b has no heartbeat yet
    await b.beat()
    await request_drain(a._redis, "a:8080", prefix=a.prefix)
    await a.beat()  # it reads the drain and says so in its heartbeat
    assert a.draining
    assert await _place(a, 5) == "b:8080"  # sticky no more: its node drains
    assert await _place(a, 6) == "b:8080"


async def test_placement_without_live_nodes(registry: Factory) -> None:
    assert await _place(registry("a:8080"), 1) is None


async def test_concurrent_placements_agree(registry: Factory) -> None:
    nodes = [registry(f"n{i}:8080") for i in range(4)]
    for reg in nodes:
        await reg.beat()
    chosen = await asyncio.gather(*(_place(reg, 3) for reg in nodes))
    assert len(set(chosen)) == 1


async def test_unreachable_redis_warns_once_and_keeps_trying(
        caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reg = NodeRegistry(f"redis://127.0.0.1:{port}/0", "a:8080", "http://a:8080", Usage,
                       interval_s=0.05)
    with caplog.at_level(logging.WARNING, logger="kelian.cluster"):
        await reg.start()
        await asyncio.sleep(0.4)
        assert reg.running  # still trying
        await reg.stop()
    warnings = [r for r in caplog.records if r.name == "kelian.cluster"]
    assert "unreachable" in warnings[0].getMessage()
    assert len([w for w in warnings if "unreachable" in w.getMessage()]) == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_serve_with_redis_joins_the_registry(aiohttp_client, redis_url: str,  # type: ignore[no-untyped-def]
                                                   tmp_path, db_url: str) -> None:
    from server.app import create_app

    port = random.randrange(20000, 60000)  # the node id; nothing listens on it
    settings = load_settings(env={}, overrides={
        "data_dir": str(tmp_path), "database_url": db_url, "scheduler": False, "rtmp_port": 0,
        "redis_url": redis_url, "port": port})
    node_id = f"{socket.gethostname()}:{port}"
    client = await aiohttp_client(create_app(settings))
    redis = Redis.from_url(redis_url)
    try:
        load = await eventually(lambda: _node(redis, node_id))
        assert (load.rooms, load.participants) == (0, 0)
        await client.close()
        assert await _node(redis, node_id) is None  # left on shutdown
    finally:
        await redis.aclose()


async def _node(redis: Redis, node_id: str) -> NodeLoad | None:
    return next((n for n in await read_nodes(redis) if n.node_id == node_id), None)


async def test_a_drained_node_says_so_and_a_restart_clears_it(registry: Factory, redis_url: str,
                                                              prefix: str) -> None:
    told: list[bool] = []
    node = registry("d:8080")
    node._on_drain = told.append
    redis = Redis.from_url(redis_url)
    try:
        await node.beat()
        await request_drain(redis, "d:8080", prefix=prefix)
        await node.beat()
        assert node.draining and told == [True]
        assert [n.draining for n in await node.nodes()] == [True]  # placement skips it
        await request_drain(redis, "d:8080", drain=False, prefix=prefix)
        await node.beat()
        assert not node.draining and told == [True, False]

        # Drained before an upgrade: the restarted node takes work again.
        await request_drain(redis, "d:8080", prefix=prefix)
        again = registry("d:8080")
        await again.start()
        await again.beat()
        assert not again.draining
    finally:
        await redis.aclose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_draining_node_is_not_ready(aiohttp_client, redis_url: str,  # type: ignore[no-untyped-def]
                                            tmp_path, db_url: str) -> None:
    from server.app import create_app
    from server.keys import REGISTRY

    port = random.randrange(20000, 60000)
    settings = load_settings(env={}, overrides={
        "data_dir": str(tmp_path), "database_url": db_url, "scheduler": False, "rtmp_port": 0,
        "redis_url": redis_url, "port": port})
    client = await aiohttp_client(create_app(settings))
    registry = client.app[REGISTRY]
    redis = Redis.from_url(redis_url)
    try:
        async with client.get("/readyz") as resp:
            assert resp.status == 200
        await request_drain(redis, registry.node_id)
        await registry.beat()
        async with client.get("/readyz") as resp:
            assert resp.status == 503 and "draining" in (await resp.json())["reason"]
        await request_drain(redis, registry.node_id, drain=False)
        await registry.beat()
        async with client.get("/readyz") as resp:
            assert resp.status == 200
    finally:
        await request_drain(redis, registry.node_id, drain=False)
        await redis.aclose()


async def test_a_node_keeps_its_rooms_placed_and_learns_which_went_elsewhere(
        registry: Factory) -> None:
    a, b = registry("a:8080"), registry("b:8080")
    for reg in (a, b):
        await reg.beat()
    assert await a.claim([]) == []
    assert await a.claim([1, 2]) == []  # not placed yet (or expired): placed here
    assert await _place(b, 1) == "a:8080" and await _place(b, 2) == "a:8080"
    await a._redis.set(f"{a.prefix}room:2", "b:8080")  # placed again while a looked dead
    assert await a.claim([1, 2]) == [2]
    await a._redis.set(f"{a.prefix}room:1", "gone:8080")  # on a node with no heartbeat
    assert await a.claim([1]) == []
    assert await _place(b, 1) == "a:8080"  # taken back


async def test_receivers_are_shared_out_without_overshooting(registry: Factory) -> None:
    """Twenty receivers joining at once: the origin takes its five, edges five each."""
    origin, b, c = registry("a:8080"), registry("b:8080"), registry("c:8080")
    for reg in (origin, b, c):
        await reg.beat()
    taken = await asyncio.gather(*(origin.count_receiver(9, "a:8080", 5) for _ in range(20)))
    assert sum(taken) == 5
    edges = [await origin.edge_for(9, "a:8080", 5) for _ in range(10)]
    assert all(e is not None for e in edges)
    counts = await origin.receivers(9)
    assert counts["a:8080"] == 5 and counts["b:8080"] == 5 and counts["c:8080"] == 5
    assert await origin.edge_for(9, "a:8080", 5) is None  # every node is full
    for _ in range(7):  # all five leave the origin (and two more, counted nowhere)
        await origin.uncount_receiver(9, "a:8080")
    assert (await origin.receivers(9))["a:8080"] == 0
    assert await origin.count_receiver(9, "a:8080", 5)  # room again


def test_a_node_advertises_node_host_else_host_else_its_name() -> None:
    from server.cluster import node_url

    def url(**env: str) -> str:
        return node_url(load_settings(env={f"KELIAN_{k.upper()}": v for k, v in env.items()}))

    assert url(host="10.0.0.5", port="8081") == "http://10.0.0.5:8081"
    assert url(host="0.0.0.0") == f"http://{socket.gethostname()}:8080"
    assert url(host="0.0.0.0", node_host="127.0.0.1", port="8081") == "http://127.0.0.1:8081"
    assert url(host="::", node_host="fd00::5") == "http://[fd00::5]:8080"
