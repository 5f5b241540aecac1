"""Fuzz every operation of the OpenAPI document with schemathesis against a real server.

The app runs on 127.0.0.1 (a free port) in the test's event loop; schemathesis sends real HTTP
requests from a worker thread, as an admin with a bearer token. Each operation gets valid
(positive) and invalid (negative) generated inputs. A response fails the test when it is a
server error, or its status code, content type, headers or body do not match the document.

SQLite only: it is slow, and the backends' differences are covered by the other API tests.
KELIAN_FUZZ_EXAMPLES (default 20 per operation and mode; negative gets half) and KELIAN_FUZZ_AS
(a principal of tests/api/world.py, default admin) tune a run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from aiohttp.test_utils import TestServer
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.app import create_app
from server.auth.secrets import token_hash
from server.config import Settings
from server.models import ApiToken

from .world import build_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: int(os.environ.get("KELIAN_FUZZ_EXAMPLES", "20")),
            GenerationMode.NEGATIVE: int(os.environ.get("KELIAN_FUZZ_EXAMPLES", "20")) // 2}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (overrides the two-backend fixture for this module)."""
    return f"sqlite+aiosqlite:///{tmp_path}/fuzz.db"


KNOWN_IDS = 4  # the seeded world has at least this many schools/classrooms/users/...


def _known(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    return 1 + value % KNOWN_IDS


def aim_at_world(case: schemathesis.Case) -> schemathesis.Case:
    """Point the case's ids at records that exist, so it gets past "no such record" checks.

    Random 32-bit ids almost never name a seeded record, and then validation, the policy and
    the database are never reached. Half of the cases are aimed (hypothesis picks which).
    """
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = _known(case.path_parameters["id"])
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        for key, value in container.items():
            if key.endswith("_id"):
                container[key] = _known(value)
            elif key.endswith("_ids") and isinstance(value, list):
                container[key] = [_known(v) for v in value]
    return case


def fuzz(base_url: str, token: str, spare: Callable[[Any], bool]) -> list[str]:
    """Run schemathesis over every operation; returns one line per failing operation and mode.

    `spare(case)` is False for cases that must not run (revoking the fuzzer's own token).
    """
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            generated = operation.as_strategy(generation_mode=mode)
            strategy = st.tuples(generated, st.booleans()).map(
                lambda pair: aim_at_world(pair[0]) if pair[1] else pair[0]).filter(spare)

            @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                                 suppress_health_check=list(hypothesis.HealthCheck),
                                 phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
                                 print_blob=False)
            @hypothesis.given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS,
                                       timeout=30)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


async def test_schemathesis_finds_nothing(settings: Settings, db: AsyncSession) -> None:
    server = TestServer(create_app(settings), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        world = await build_world(db)
        token = world.tokens[os.environ.get("KELIAN_FUZZ_AS", "admin")]
        token_id = await db.scalar(select(ApiToken.id).where(ApiToken.token_hash == token_hash(token)))

        def spare(case: Any) -> bool:
            revokes_own = (case.operation.label == "DELETE /api/v1/tokens/{id}"
                           and case.path_parameters.get("id") == token_id)
            return not revokes_own

        base_url = str(server.make_url("")).rstrip("/")
        failures = await asyncio.to_thread(fuzz, base_url, token, spare)
    finally:
        await server.close()
    assert not failures, "\n\n".join(failures)
