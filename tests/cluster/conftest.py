"""Real Redis for the registry tests (KELIAN_TEST_REDIS_URL, default redis://127.0.0.1:6379/0;
skipped when unreachable unless KELIAN_TEST_REQUIRE_REDIS=1), and a key prefix per test so
parallel runs on one Redis do not meet."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import aioice.ice
import pytest

from loadtest.loopback import use_loopback_only

from .nodes import forget_prefix


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A fresh key prefix; its keys are deleted afterwards."""
    prefix = f"kelian-test-{secrets.token_hex(6)}:"
    yield prefix
    forget_prefix(redis_url, prefix)


@pytest.fixture
def loopback_peers() -> Iterator[None]:
    """The nodes' relays offer 127.0.0.1 only (loadtest.serve); so do the test's own peers."""
    original = aioice.ice.get_host_addresses
    use_loopback_only()
    yield
    aioice.ice.get_host_addresses = original  # type: ignore[assignment]
