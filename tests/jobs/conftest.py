"""Job fixtures: sessions on the migrated test database (SQLite and PostgreSQL), a queue on it,
and the Redis the wake-up tests use (`redis_url`, tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.database import session_factory
from server.jobs import Backoff, JobQueue

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

