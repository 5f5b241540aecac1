"""`kelian nodes` as a real subprocess against a real Redis. It reads the default "kelian:"
keys, so the nodes here have unique ids and only their own rows are checked."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from server.cluster import NodeRegistry, Usage, request_drain
from server.cluster.registry import connect, drain_key
from tests.test_cli import cli_env, kelian


async def test_nodes_lists_the_live_nodes(tmp_path: Path, redis_url: str) -> None:
    busy = f"busy-{secrets.token_hex(4)}:8080"
    gone = f"gone-{secrets.token_hex(4)}:8080"
    reg = NodeRegistry(redis_url, busy, "http://10.0.0.5:8080",
                       lambda: Usage(rooms=3, participants=41))
    left = NodeRegistry(redis_url, gone, "http://10.0.0.6:8080", Usage)
    redis = connect(redis_url)
    try:
        await request_drain(redis, busy)
        await reg.beat()
        await left.beat()
        await left.stop()
        done = kelian(cli_env(tmp_path, KELIAN_REDIS_URL=redis_url), "nodes")
    finally:
        await request_drain(redis, busy, drain=False)
        await redis.aclose()
        await reg.stop()
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["node", "url", "cpu", "rooms", "participants", "packets/s",
                              "seen", "draining"]
    row = next(r.split() for r in rows if r.startswith(busy))
    assert row[1:4] == ["http://10.0.0.5:8080", row[2], "3"] and row[2].endswith("%")
    assert row[4:6] == ["41", "0"] and row[-1] == "yes" and row[-2] == "ago"
    assert not any(gone in r for r in rows)


def test_nodes_without_redis(tmp_path: Path) -> None:
    done = kelian(cli_env(tmp_path), "nodes")
    assert done.returncode == 1
    assert "not configured" in done.stderr


def test_nodes_with_redis_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = kelian(cli_env(tmp_path, KELIAN_REDIS_URL=f"redis://127.0.0.1:{port}/0"), "nodes")
    assert done.returncode == 2
    assert "unreachable" in done.stderr


async def test_node_drain_and_cancel(tmp_path: Path, redis_url: str) -> None:
    node = f"drained-{secrets.token_hex(4)}:8080"
    redis = connect(redis_url)
    try:
        done = kelian(cli_env(tmp_path, KELIAN_REDIS_URL=redis_url), "node", "drain", node)
        assert done.returncode == 0 and "drains" in done.stdout, done.stderr
        assert await redis.get(drain_key(node)) == b"1"
        done = kelian(cli_env(tmp_path, KELIAN_REDIS_URL=redis_url), "node", "drain", node,
                      "--cancel")
        assert done.returncode == 0 and "takes work again" in done.stdout
        assert await redis.get(drain_key(node)) is None
    finally:
        await redis.delete(drain_key(node))
        await redis.aclose()
    assert kelian(cli_env(tmp_path), "node", "drain", node).returncode == 1  # no Redis setting
