"""Headless Chromium terminals recover by themselves when the node holding their lesson dies.

Three `kelian serve` nodes (demo data) share PostgreSQL and Redis behind a TCP balancer, as a
city's load balancer would put them; every page and socket goes through it to any node. The
teacher starts a dedicated lesson on the console; two teaching points' kiosks decode the
teacher's camera. The node holding the Room is SIGKILLed: the kiosks and the console reconnect
by themselves (nobody touches them), the lesson opens on a live node, and the kiosks decode the
teacher again. Screenshots go to test-artifacts/nodes-*.png.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from loadtest.kelian import KelianServer
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.pages.conftest import browser, chromium  # noqa: F401 (fixtures)
from tests.pages.tcp_proxy import Link
from tests.pages.test_live_browser import (
    LAPTOP,
    PATIENCE_S,
    TV,
    Screen,
    decodes,
    eventually,
    lesson_and_terminals,
)

from .nodes import forget_prefix, node_id, redis_for_nodes, run_async, start_nodes, stop_nodes

pytestmark = pytest.mark.browser


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[KelianServer], Redis, str, Link]]:
    """Three demo nodes on one fresh PostgreSQL database and Redis, behind a balancer."""
    database = run_async(create_postgres_database())
    redis_url, prefix = redis_for_nodes(os.environ.get("KELIAN_TEST_REDIS_URL")
                                        or "redis://127.0.0.1:6379/0")
    settings = {"KELIAN_DATABASE_URL": database, "KELIAN_REDIS_URL": redis_url,
                "KELIAN_REDIS_PREFIX": prefix,
                "KELIAN_LIBRARY_DIR": str(tmp_path / "library"), "KELIAN_RTMP_PORT": "0",
                "KELIAN_DEMO": "true", "KELIAN_SCHEDULER": "false"}
    nodes: list[KelianServer] = []
    balancer: Link | None = None
    try:
        nodes = start_nodes(3, settings, admin_password="kelian-admin", loopback_ice=False)
        balancer = Link([node.port for node in nodes])
        yield nodes, Redis.from_url(redis_url), prefix, balancer
    finally:
        if balancer is not None:
            balancer.close()
        stop_nodes(nodes)
        run_async(drop_postgres_database(database))
        forget_prefix(redis_url, prefix)


def test_terminals_recover_by_themselves_when_their_lessons_node_is_killed(
        browser: Any, cluster: tuple[list[KelianServer], Redis, str, Link]) -> None:  # noqa: F811
    from playwright.sync_api import expect

    nodes, redis, prefix, balancer = cluster
    base = f"http://127.0.0.1:{balancer.port}"
    expect.set_options(timeout=PATIENCE_S * 1000)
    lesson, tokens = lesson_and_terminals(browser, base)

    teacher = Screen(browser, base, LAPTOP, "teacher")
    points = [Screen(browser, base, TV, f"point {i}") for i in range(len(tokens))]
    try:
        for point, token in zip(points, tokens, strict=True):
            point.page.goto(f"{base}/terminal#token={token}")
            expect(point.page.get_by_text("下一节课")).to_be_visible()
        teacher.sign_in("teacher", "kelian-teacher")
        teacher.page.goto(f"{base}/lessons/{lesson['id']}/live")
        teacher.page.get_by_role("button", name="开始上课").click()
        expect(teacher.page.locator("#live-status")).to_have_text("直播中")
        for point in points:
            expect(point.page.locator("#live")).to_be_visible()
            decodes(point, "王老师", "video")

        owner = redis.get(f"{prefix}room:{lesson['id']}")
        assert owner is not None
        [doomed] = [node for node in nodes if node_id(node) == owner.decode()]
        killed_at = time.monotonic()
        doomed.kill()
        time.sleep(2.0)  # the pictures froze; what the kiosks decode from now on is new
        for point in points:
            decodes(point, "王老师", "video")
        recovered_s = time.monotonic() - killed_at
        now_on = eventually(lambda: redis.get(f"{prefix}room:{lesson['id']}"),
                            "the lesson placed again")
        assert now_on != owner
        print(f"kiosks decode the teacher again {recovered_s:.1f} s after the kill")
        points[0].shot("terminal-after-failover-1920", prefix="nodes-")
        teacher.shot("console-after-failover-1366", prefix="nodes-")
        for screen in (teacher, *points):
            assert not screen.errors, screen.errors
    except BaseException:
        for screen in (teacher, *points):
            screen.shot(f"failed-{screen.name.replace(' ', '-')}", prefix="nodes-")
            print(screen.diagnose())
        for node in nodes:
            print(f"--- {node_id(node)}\n{node.log_tail(3000)}")
        raise
    finally:
        for screen in (teacher, *points):
            screen.close()
