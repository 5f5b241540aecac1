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
    issue_tokens,
    lesson_and_terminals,
)

from .nodes import forget_prefix, node_id, redis_for_nodes, run_async, start_nodes, stop_nodes

pytestmark = pytest.mark.browser


Cluster = tuple[list[KelianServer], Redis, str, Link]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three demo nodes on one fresh PostgreSQL database and Redis, behind a balancer."""
    yield from _demo_nodes(tmp_path, 3, {})


@pytest.fixture
def cascading_pair(tmp_path: Path) -> Iterator[Cluster]:
    """Two demo nodes, each serving one receiver of a broadcast before the cascade."""
    yield from _demo_nodes(tmp_path, 2, {"KELIAN_ROOM_MAX_RECEIVERS": "1"})


def _demo_nodes(tmp_path: Path, count: int, extra: dict[str, str]) -> Iterator[Cluster]:
    database = run_async(create_postgres_database())
    redis_url, prefix = redis_for_nodes(os.environ.get("KELIAN_TEST_REDIS_URL")
                                        or "redis://127.0.0.1:6379/0")
    settings = {"KELIAN_DATABASE_URL": database, "KELIAN_REDIS_URL": redis_url,
                "KELIAN_REDIS_PREFIX": prefix,
                "KELIAN_LIBRARY_DIR": str(tmp_path / "library"), "KELIAN_RTMP_PORT": "0",
                "KELIAN_DEMO": "true", "KELIAN_SCHEDULER": "false", **extra}
    nodes: list[KelianServer] = []
    balancer: Link | None = None
    try:
        nodes = start_nodes(count, settings, admin_password="kelian-admin", loopback_ice=False)
        balancer = Link([node.port for node in nodes])
        yield nodes, Redis.from_url(redis_url), prefix, balancer
    finally:
        if balancer is not None:
            balancer.close()
        stop_nodes(nodes)
        run_async(drop_postgres_database(database))
        forget_prefix(redis_url, prefix)


def test_terminals_recover_by_themselves_when_their_lessons_node_is_killed(
        browser: Any, cluster: Cluster) -> None:  # noqa: F811
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
        _report_failure([teacher, *points], nodes, "nodes-")
        raise
    finally:
        for screen in (teacher, *points):
            screen.close()


def test_the_console_lists_the_classrooms_a_cascade_edge_serves(
        browser: Any, cascading_pair: Cluster) -> None:  # noqa: F811
    """The demo's famous-school broadcast with one receiver per node: the first kiosk is served
    by the lesson's node, the second by an edge on the other; both decode the teacher, and the
    teacher's console shows the edge's classroom as in the lesson."""
    from playwright.sync_api import expect

    nodes, redis, prefix, balancer = cascading_pair
    base = f"http://127.0.0.1:{balancer.port}"
    expect.set_options(timeout=PATIENCE_S * 1000)
    admin = Screen(browser, base, LAPTOP, "admin")
    try:
        admin.sign_in("admin", "kelian-admin")
        [lesson] = admin.api("GET", "/api/v1/lessons?kind=famous_school&limit=5")["items"]
        rooms = {r["id"]: r["name"] for r in admin.api(
            "GET", "/api/v1/classrooms?limit=100")["items"]}
        points = [i for i in lesson["linked_classroom_ids"] if rooms[i] != "音乐教室"]
        tokens = issue_tokens(admin, points)
    finally:
        admin.close()

    teacher = Screen(browser, base, LAPTOP, "teacher")
    kiosks = [Screen(browser, base, TV, f"point {i}") for i in range(len(tokens))]
    try:
        teacher.sign_in("teacher", "kelian-teacher")
        teacher.page.goto(f"{base}/lessons/{lesson['id']}/live")
        teacher.page.get_by_role("button", name="开始上课").click()
        expect(teacher.page.locator("#live-status")).to_have_text("直播中")
        for kiosk, token in zip(kiosks, tokens, strict=True):  # one after the other: counted
            kiosk.page.goto(f"{base}/terminal#token={token}")
            expect(kiosk.page.locator("#live")).to_be_visible()
            decodes(kiosk, "王老师", "video")
        edges = redis.smembers(f"{prefix}room:{lesson['id']}:edges")
        assert len(edges) == 1, edges
        # The console: the origin's classroom as its tile, the edge's as connected (not "not
        # connected"), the music room, which has no kiosk here, as not connected.
        grid = teacher.page.locator("#grid")
        expect(grid.locator(".point.elsewhere")).to_have_count(1)
        expect(grid.locator(".point.elsewhere")).to_contain_text("已连接")
        expect(grid.locator(".point.offline")).to_have_count(1)
        expect(grid.locator(".point.offline")).to_contain_text("音乐教室")
        teacher.shot("console-cascade-1366", prefix="nodes-")
        for screen in (teacher, *kiosks):
            assert not screen.errors, screen.errors
    except BaseException:
        _report_failure([teacher, *kiosks], nodes, "nodes-cascade-")
        raise
    finally:
        for screen in (teacher, *kiosks):
            screen.close()


def _report_failure(screens: list[Screen], nodes: list[KelianServer], prefix: str) -> None:
    """Screenshots, what each page received, and the nodes' logs, for a failed test."""
    for screen in screens:
        screen.shot(f"failed-{screen.name.replace(' ', '-')}", prefix=prefix)
        print(screen.diagnose())
    for node in nodes:
        print(f"--- {node_id(node)}\n{node.log_tail(3000)}")
