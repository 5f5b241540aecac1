"""Fixtures shared by every test: a database on each backend, settings, a session, the app.

`db_url` runs a test on SQLite and on PostgreSQL. PostgreSQL tests use a fresh database made
on the server at KELIAN_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
and dropped afterwards. When that server cannot be reached they are skipped, unless
KELIAN_TEST_REQUIRE_POSTGRES=1 (as in CI), which turns the skip into a failure. Browser tests
behave the same with KELIAN_TEST_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server.config import Settings, load_settings
from server.database import create_engine, session_factory, upgrade

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Real argon2, with the cheapest parameters: the suite hashes hundreds of passwords and
    the default profile costs ~0.3 s of CPU each. Hashes keep their parameters, so verification
    and rehash-on-sign-in are exercised exactly as in production (where the default applies).
    Servers the tests start as subprocesses use the default profile."""
    from argon2 import PasswordHasher

    from server.auth import secrets as password_secrets

    default = password_secrets._hasher
    password_secrets._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    password_secrets._hasher = default


def _required(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def skip_or_fail(reason: str, require_env: str) -> None:
    """Skip the test, or fail it when `require_env` says this capability must be present."""
    if _required(require_env):
        pytest.fail(f"{reason} (and {require_env}=1 demands it)")
    pytest.skip(reason)


def chromium_path() -> str:
    """Debian's chromium for browser tests; skips (or fails under CI) when it is missing."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is not installed", "KELIAN_TEST_REQUIRE_BROWSER")
    return str(CHROMIUM)


def _postgres_base() -> str:
    """The maintenance-database URL as a plain libpq DSN (any +driver suffix removed)."""
    url = make_url(os.environ.get("KELIAN_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _postgres_admin() -> asyncpg.Connection:
    base = _postgres_base()
    try:
        return await asyncpg.connect(base, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        skip_or_fail(f"PostgreSQL at {make_url(base)!r} is unreachable: {exc!r}",
                     "KELIAN_TEST_REQUIRE_POSTGRES")
        raise  # not reached


async def create_postgres_database() -> str:
    """An empty PostgreSQL database for one test; its SQLAlchemy URL."""
    name = f"kelian_t_{secrets.token_hex(6)}"
    admin = await _postgres_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    finally:
        await admin.close()
    return make_url(_postgres_base()).set(
        drivername="postgresql+asyncpg", database=name
    ).render_as_string(hide_password=False)


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = await _postgres_admin()
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLAlchemy URL of an empty database, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/t.db"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings as `kelian serve` would have them, with no environment leaking in, and no
    lesson scheduler: lessons move only when a test moves them (tests/lifecycle turn it on)."""
    return load_settings(env={}, overrides={"data_dir": str(tmp_path), "database_url": db_url,
                                            "scheduler": False, "rtmp_port": 0})


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to the newest schema."""
    eng = create_engine(settings.effective_database_url)
    try:
        await upgrade(eng)
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session


@pytest.fixture
async def app_client(aiohttp_client, settings: Settings):  # type: ignore[no-untyped-def]
    """A test client for the whole app (started, so its database is migrated)."""
    from server.app import create_app

    return await aiohttp_client(create_app(settings))


@pytest.fixture
def browser_path() -> Iterator[str]:
    yield chromium_path()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """Real Redis at KELIAN_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); skipped when
    unreachable unless KELIAN_TEST_REQUIRE_REDIS=1."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("KELIAN_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = Redis.from_url(url, socket_connect_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        skip_or_fail(f"Redis at {url} is unreachable: {exc!r}", "KELIAN_TEST_REQUIRE_REDIS")
    finally:
        await client.aclose()
    yield url
