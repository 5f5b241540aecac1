"""Job fixtures: sessions on the migrated test database (SQLite and PostgreSQL), a queue on it,
and the Redis the wake-up tests use (KELIAN_TEST_REDIS_URL, default redis://127.0.0.1:6379/0;
skipped when unreachable unless KELIAN_TEST_REQUIRE_REDIS=1)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.database import session_factory
from server.jobs import Backoff, JobQueue
from tests.conftest import skip_or_fail

# Run a test on one backend only (they override the db_url fixture's parameters).
postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def queue(sessions: async_sessionmaker[AsyncSession]) -> JobQueue:
    """A queue with a short back-off and lease, so retries and expiry take fractions of a second."""
    return JobQueue(sessions, lease_s=0.3, backoff=Backoff(first_s=0.2, max_s=1.0))


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    url = os.environ.get("KELIAN_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        skip_or_fail(f"Redis at {url} is unreachable: {exc!r}", "KELIAN_TEST_REQUIRE_REDIS")
    finally:
        await client.aclose()
    yield url
