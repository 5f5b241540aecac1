"""`/metrics` tells an operator what the node carries, in Prometheus' text format."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from server.metrics import may_scrape
from tests.helpers import eventually

from .conftest import SQLITE_ONLY, Starter
from .media_client import MediaClient
from .world import World
from .wsclient import join


def _value(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert found is not None, f"{name}{labels} missing in:\n{text}"
    return float(found.group(1))


@SQLITE_ONLY
async def test_metrics_count_rooms_participants_and_forwarded_packets(
        live_app: TestClient, world: World, start: Starter) -> None:
    lesson_id = await start("dedicated")
    teacher_ws, _ = await join(live_app, world.tokens["teacher"], lesson_id, "teacher")
    point_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    teacher, point = MediaClient(teacher_ws), MediaClient(point_ws)
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    try:
        assert (await teacher.publish(["camera"]))["type"] == "ok"

        async def scrape() -> str:
            async with live_app.get("/metrics", headers=admin) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return await resp.text()

        async def forwarding() -> str | None:
            text = await scrape()
            return text if _value(text, "kelian_subscription_packets") > 0 else None

        text = await eventually(forwarding, timeout=20)
        assert _value(text, "kelian_rooms") == 1
        assert _value(text, "kelian_participants", '{role="host"}') == 1
        assert _value(text, "kelian_participants", '{role="receiving_classroom"}') == 1
        assert _value(text, "kelian_publications") == 1
        assert _value(text, "kelian_signalling_sockets") == 2
        assert _value(text, "process_resident_memory_bytes") > 10_000_000
        assert "# TYPE kelian_log_errors_total counter" in text
    finally:
        for client in (teacher, point):
            await client.close()
        for ws in (teacher_ws, point_ws):
            await ws.close()


def test_metrics_are_for_this_machine_or_an_admin() -> None:
    assert may_scrape(False, "127.0.0.1") and may_scrape(False, "::1")
    assert may_scrape(True, "10.1.2.3")
    assert not may_scrape(False, "10.1.2.3") and not may_scrape(False, None)
