"""Library test fixtures: real HLS media (made once), the API world, the library's storage.

The database fixtures (`db_url` on SQLite and PostgreSQL, `settings`, `db`, `app_client`) come
from tests/conftest.py; the seeded world of users and schools from tests/api/world.py.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.library.storage import LibraryStorage
from tests.api.conftest import Api
from tests.api.world import World, build_world

from .media import HlsFiles, make_hls


@pytest.fixture(scope="session")
def hls(tmp_path_factory: pytest.TempPathFactory) -> HlsFiles:
    """A 6 s lesson as 720p + 360p HLS with poster and thumbnails (made once per session)."""
    return make_hls(tmp_path_factory.mktemp("hls"))


@pytest.fixture
async def app_client(aiohttp_client, settings: Settings) -> TestClient:  # type: ignore[no-untyped-def]
    """The whole app without a job runner: queued transcodes stay queued, so each test decides
    what state its Resources are in (test_upload_is_transcoded runs the real one)."""
    from server.app import create_app

    return await aiohttp_client(create_app(settings, job_kinds={}))


@pytest.fixture
def storage(settings: Settings) -> LibraryStorage:
    return LibraryStorage(settings.effective_library_dir)


@pytest.fixture
async def world(app_client: TestClient, db: AsyncSession) -> World:
    """The seeded records (after the app has started and migrated the database)."""
    return await build_world(db)


@pytest.fixture
def api(app_client: TestClient) -> Api:
    return Api(app_client)
