"""API test fixtures: the seeded world and a small JSON client over the app's test client.

The database fixtures (`db_url` on SQLite and PostgreSQL, `settings`, `db`, `app_client`) come
from tests/conftest.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.resolve import SESSION_COOKIE, start_session
from server.http import CSRF_COOKIE, CSRF_HEADER
from server.models import User

from .world import World, build_world

_NO_BODY = object()


@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]

    @property
    def code(self) -> str | None:
        """The error code of a failure."""
        return self.body["error"]["code"] if isinstance(self.body, dict) and "error" in self.body else None

    @property
    def fields(self) -> list[str]:
        """The fields named in a failure's details."""
        return [d["field"] for d in self.body["error"].get("details", [])]


class Api:
    """Calls /api/v1 as one principal (a bearer token), or anonymously."""

    def __init__(self, client: TestClient, token: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.token = token
        self.headers = headers or {}

    def as_(self, token: str | None) -> Api:
        return Api(self.client, token)

    async def signed_in(self, db: AsyncSession, user_id: int) -> Api:
        """Acts through a browser session: the session cookie plus the CSRF cookie and header."""
        await fresh(db)
        user = await db.get(User, user_id)
        assert user is not None
        cookie = await start_session(db, user, hours=1)
        await db.commit()
        csrf = "csrf-for-tests"
        return Api(self.client, headers={"Cookie": f"{SESSION_COOKIE}={cookie}; {CSRF_COOKIE}={csrf}",
                                         CSRF_HEADER: csrf})

    async def call(self, method: str, path: str, body: Any = _NO_BODY, *,
                   headers: dict[str, str] | None = None, data: bytes | str | None = None,
                   params: dict[str, str] | None = None) -> Reply:
        sent = self.headers | (headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if body is not _NO_BODY:
            data = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        url = path if path.startswith("/") else f"/api/v1/{path}"
        async with self.client.request(method, url, data=data, headers=sent, params=params) as resp:
            raw = await resp.read()
            parsed = json.loads(raw) if raw and resp.content_type == "application/json" else raw
            return Reply(resp.status, parsed, resp.headers)

    async def get(self, path: str, **params: str) -> Reply:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, body: Any = _NO_BODY, **kw: Any) -> Reply:
        return await self.call("POST", path, body, **kw)

    async def patch(self, path: str, body: Any = _NO_BODY, **kw: Any) -> Reply:
        return await self.call("PATCH", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)


@pytest.fixture
async def world(app_client: TestClient, db: AsyncSession) -> World:
    """The seeded records (after the app has started and migrated the database)."""
    return await build_world(db)


@pytest.fixture
def api(app_client: TestClient) -> Api:
    """An anonymous client; `api.as_(world.tokens["admin"])` acts as someone."""
    return Api(app_client)


@pytest.fixture
def admin(api: Api, world: World) -> Api:
    return api.as_(world.tokens["admin"])


async def fresh(db: AsyncSession) -> AsyncSession:
    """`db` with no open transaction and nothing cached, so it sees what the app committed."""
    await db.rollback()
    db.expire_all()
    return db


async def count_rows(db: AsyncSession, model: type) -> int:
    await fresh(db)
    return await db.scalar(select(func.count()).select_from(model)) or 0
