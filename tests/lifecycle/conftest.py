"""Fixtures for the lesson lifecycle: the live-lesson world in a started app whose lifecycle
clock the test sets (`clock`), with the scheduler on where a module asks (`scheduler_on`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.keys import CLOCK
from server.signalling.limits import LIMITS
from tests.live.conftest import TEST_LIMITS, Starter
from tests.live.world import World, build_world

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """The lifecycle's clock (scheduler, attendance, report), moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hh: int, mm: int, ss: int = 0) -> datetime:
        """Set it to a local time in Shanghai (the world's schools' zone)."""
        self.now = datetime.combine(day, time(hh, mm, ss), tzinfo=SHANGHAI).astimezone(UTC)
        return self.now


@pytest.fixture
def scheduler_on() -> bool:
    return False


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
async def live_app(aiohttp_client, settings: Settings, clock: Clock,  # type: ignore[no-untyped-def]
                   scheduler_on: bool) -> TestClient:
    from server.app import create_app

    # The scheduler's own loop ticks once at start-up, then waits an hour: tests tick it.
    app: web.Application = create_app(dataclasses.replace(
        settings, scheduler=scheduler_on, scheduler_interval_s=3600))
    app[LIMITS] = TEST_LIMITS
    app[CLOCK] = clock
    return await aiohttp_client(app)


@pytest.fixture
async def world(live_app: TestClient, db: AsyncSession) -> World:
    return await build_world(db)


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
