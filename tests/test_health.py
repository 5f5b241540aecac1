"""The probes: /healthz (the process answers), /readyz (database and media plane, not stopping)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from server.database import create_engine
from server.health import database_problem


async def test_healthz_and_readyz_answer_anonymously(app_client: TestClient) -> None:
    async with app_client.get("/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        assert resp.headers["Cache-Control"] == "no-store"
    async with app_client.get("/readyz") as resp:
        assert resp.status == 200 and await resp.json() == {"status": "ready"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_stopping_node_is_not_ready_but_alive(app_client: TestClient) -> None:
    await app_client.app.shutdown()  # what SIGTERM starts: sockets close, the flag is set
    async with app_client.get("/readyz") as resp:
        assert resp.status == 503
        assert await resp.json() == {"status": "unavailable", "reason": "the node is stopping"}
    async with app_client.get("/healthz") as resp:
        assert resp.status == 200


async def test_an_unreachable_database_is_named() -> None:
    # Nothing listens on port 1: a real connection attempt that fails at once.
    engine = create_engine("postgresql+asyncpg://kelian@127.0.0.1:1/kelian")
    try:
        reason = await database_problem(engine)
    finally:
        await engine.dispose()
    assert reason is not None and reason.startswith("the database is unreachable")


async def test_a_reachable_database_has_no_problem(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/h.db")
    try:
        assert await database_problem(engine) is None
    finally:
        await engine.dispose()
