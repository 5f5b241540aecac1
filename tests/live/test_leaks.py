"""Joining and vanishing 200 times leaves no task, file descriptor, participant or memory behind."""

from __future__ import annotations

import asyncio
import gc
import os
import resource
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.keys import LIVE
from server.signalling.connection import SOCKETS
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .world import World
from .wsclient import join

CYCLES = 200
PAGE = resource.getpagesize()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def _tasks() -> int:
    return len(asyncio.all_tasks())


@SQLITE_ONLY
@pytest.mark.slow
async def test_join_and_drop_200_times_leaves_nothing_behind(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    teacher, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    tokens = [world.tokens[t] for t in ("pa_tv", "pb_tv", "hub_tv", "observer", "inspector")]

    async def join_and_drop(i: int) -> None:
        ws = await live_app.ws_connect("/ws")
        await ws.send_json({"v": 1, "type": "auth", "token": tokens[i % len(tokens)]})
        assert (await ws.receive_json())["type"] == "ok"
        await ws.send_json({"v": 1, "type": "join", "lesson_id": lesson_id})
        assert (await ws.receive_json())["type"] == "ok"
        ws._conn.transport.abort()  # type: ignore[union-attr]  # vanish: no close frame
        await ws.close()

    async def settled() -> bool:
        return (len(room.participants) == 1 and len(live_app.app[SOCKETS].open) == 1
                and not live_app.app[SOCKETS].closing)

    for i in range(20):  # warm up pools, caches and lazy imports
        await join_and_drop(i)
    await eventually(settled, timeout=10)
    gc.collect()
    tasks, fds, rss = _tasks(), _open_fds(), _rss_bytes()

    for i in range(CYCLES):
        await join_and_drop(i)
    await eventually(settled, timeout=10)
    await asyncio.sleep(0.2)
    gc.collect()

    left = [m for m in teacher.events("participant.left")]
    assert len(left) >= CYCLES * 4 // 5  # inspectors are never announced
    assert {m["reason"] for m in left} <= {"disconnected", "replaced"}
    assert room.media.publications() == []
    assert list(room.participants.values())[0].name == "Teacher"
    assert _tasks() <= tasks + 2, f"tasks: {tasks} -> {_tasks()}"
    assert _open_fds() <= fds + 4, f"fds: {fds} -> {_open_fds()}"
    grown = _rss_bytes() - rss
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over {CYCLES} joins"
    await teacher.close()
