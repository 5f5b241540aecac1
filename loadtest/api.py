"""Kelian's JSON API (docs/api.md) as the load test uses it: sign in, create records, issue
terminal tokens, start and end lessons. The scenarios make their data with it, exactly as an
admin's script would, so nothing is written to the database behind the server's back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import ClientSession, ClientTimeout, CookieJar

T = TypeVar("T")
CONCURRENCY = 8  # API requests in flight while seeding (SQLite serializes the writes anyway)


class ApiError(Exception):
    pass


async def sign_in(url: str, username: str, password: str) -> str:
    """An API token for a user: sign in with the form (cookie + CSRF), then POST /api/v1/tokens."""
    async with ClientSession(cookie_jar=CookieJar(unsafe=True),
                             timeout=ClientTimeout(total=60)) as http:
        async with http.get(f"{url}/login") as response:
            await response.read()
        csrf = next((c.value for c in http.cookie_jar if c.key == "kelian_csrf"), "")
        async with http.post(f"{url}/login", data={"username": username, "password": password,
                                                    "_csrf": csrf},
                             allow_redirects=False) as response:
            if response.status != 303:
                raise ApiError(f"signing in as {username} answered {response.status}")
        async with http.post(f"{url}/api/v1/tokens", headers={"X-CSRF-Token": csrf},
                             json={"name": "load test", "expires_in_days": 1}) as response:
            if response.status != 201:
                raise ApiError(f"making a token for {username}: {response.status} "
                               f"{await response.text()}")
            return str((await response.json())["token"])


class Api:
    """Bearer-token calls to /api/v1; use as `async with Api(url, token) as api`."""

    def __init__(self, url: str, token: str):
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http: ClientSession | None = None

    async def __aenter__(self) -> Api:
        self._http = ClientSession(headers=self._headers, timeout=ClientTimeout(total=120))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   expect: int = 200) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.request(method, f"{self.url}/api/v1/{path}", json=body) as response:
            text = await response.text()
            if response.status != expect:
                raise ApiError(f"{method} /api/v1/{path}: {response.status} {text[:500]}")
            return await response.json() if text else {}

    async def create(self, plural: str, **fields: Any) -> int:
        return int((await self.call("POST", plural, fields, 201))["id"])

    async def terminal_token(self, terminal_id: int) -> str:
        return str((await self.call("POST", f"terminals/{terminal_id}/token", None, 201))["token"])

    async def start_lesson(self, lesson_id: int) -> None:
        await self.call("POST", f"lessons/{lesson_id}/start")

    async def end_lesson(self, lesson_id: int) -> None:
        await self.call("POST", f"lessons/{lesson_id}/end")


async def bounded(jobs: Iterable[Awaitable[T]], limit: int = CONCURRENCY) -> list[T]:
    """Run the jobs with at most `limit` at once, keeping their order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(job) for job in jobs)))


def lesson_times() -> dict[str, str]:
    """Planned from a minute ago for two hours: a lesson due now (instants with a zone)."""
    now = datetime.now(UTC)
    return {"planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat()}
