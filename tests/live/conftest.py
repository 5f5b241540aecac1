"""Fixtures for live lessons: the seeded world in a started app whose lessons can be started.

`live_app` builds the app with quick signalling limits (tests of timeouts wait less);
`world` seeds tests/live/world.py; `start` starts a lesson through the API as its teacher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.signalling.limits import LIMITS, Limits

from .world import World, build_world

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
TEST_LIMITS = Limits(auth_timeout_s=1.0, heartbeat_s=5.0, close_timeout_s=1.0)


@pytest.fixture
def limits() -> Limits:
    return TEST_LIMITS


@pytest.fixture
async def live_app(aiohttp_client, settings: Settings, limits: Limits  # type: ignore[no-untyped-def]
                   ) -> TestClient:
    from server.app import create_app

    app: web.Application = create_app(settings)
    app[LIMITS] = limits
    return await aiohttp_client(app)


@pytest.fixture
async def world(live_app: TestClient, db: AsyncSession) -> World:
    return await build_world(db)


Starter = Callable[[str], Awaitable[int]]


@pytest.fixture
def start(live_app: TestClient, world: World) -> Starter:
    """Start one of the world's lessons as its teacher; returns the lesson id."""
    async def starter(name: str) -> int:
        lesson_id = world[name]
        async with live_app.post(f"/api/v1/lessons/{lesson_id}/start", headers={
                "Authorization": f"Bearer {world.tokens['teacher']}"}) as resp:
            assert resp.status == 200, await resp.text()
        return lesson_id
    return starter
