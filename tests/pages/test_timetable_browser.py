"""A timetabled lesson runs by itself, in accelerated time, with two real classroom terminals.

`tests/pages/timetable_server.py` serves the demo with the lifecycle clock ten times faster and
a timetable entry for 07:00–07:10 on a Saturday. Two headless Chromium kiosks, set up with
their tokens before anything is live, wait on the calm "next lesson" screen; the scheduler opens
the Room, the kiosks join by themselves, the teacher's console shows them. Point B reaches the
server through a TCP proxy that the test cuts for a while (a rural link going down: its
WebSocket and its page's requests fail); B comes back by itself. The lesson ends by itself, both
kiosks return to waiting, and the lesson report shows both classrooms with B's drop.
Screenshots go to test-artifacts/timetable-*.png.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pages.demo_server import free_port
from tests.pages.tcp_proxy import Link
from tests.pages.test_live_browser import LAPTOP, TV, Screen, decodes, eventually

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CUT_S = 8.0  # how long B's link stays down (80 s of lesson time)


@pytest.fixture
def timetabled(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The accelerated server (its URL and what it set up); stopped and reaped at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
    log = (tmp_path / "serve.log").open("w+b")
    proc = subprocess.Popen([sys.executable, "-m", "tests.pages.timetable_server",
                             str(tmp_path / "data"), str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    try:
        facts = json.loads(proc.stdout.readline() or "null")
        ready = proc.stdout.readline().strip()
        if facts is None or ready != b"READY":
            log.seek(0)
            pytest.fail(f"the timetable server did not start:\n{log.read().decode(errors='replace')}")
        yield f"http://127.0.0.1:{port}", facts
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _issue_token(admin: Screen, classroom_id: int) -> str:
    terminal = admin.api("GET", f"/api/v1/terminals?classroom_id={classroom_id}")["items"][0]
    return str(admin.api("POST", f"/api/v1/terminals/{terminal['id']}/token")["token"])


def _joined_as(screen: Screen) -> Any:
    return screen.page.evaluate("window.kelian && window.kelian.session"
                                " && window.kelian.session.room && window.kelian.session.room.me")


def test_a_timetabled_lesson_runs_by_itself_and_reports_a_dropped_classroom(
        browser: Any, timetabled: tuple[str, dict[str, Any]]) -> None:
    from playwright.sync_api import expect

    server, facts = timetabled
    lesson_id = facts["lesson"]
    assert lesson_id, "the scheduler generated no lesson from the timetable entry"
    expect.set_options(timeout=60_000)
    admin = Screen(browser, server, LAPTOP, "admin")
    admin.sign_in("admin", "kelian-admin")
    tokens = [_issue_token(admin, i) for i in facts["classrooms"]]

    link = Link([int(server.rsplit(":", 1)[1])])
    a = Screen(browser, server, TV, "point-a")
    b = Screen(browser, f"http://127.0.0.1:{link.port}", TV, "point-b")
    teacher = Screen(browser, server, LAPTOP, "teacher")
    screens = [a, b, teacher, admin]
    try:
        # Set up once, before anything is live; nobody touches them again.
        a.page.goto(f"{a.base}/terminal#token={tokens[0]}")
        b.page.goto(f"{b.base}/terminal#token={tokens[1]}")
        for screen in (a, b):
            expect(screen.page.locator("#waiting")).to_be_visible()

        # The scheduler opens the Room a minute (of lesson time) early: both join by themselves.
        for screen in (a, b):
            eventually(lambda s=screen: _joined_as(s), f"{screen.name} joins by itself", 90)
        a.shot("joined-a-1920", prefix="timetable-")

        teacher.sign_in("teacher", "kelian-teacher")
        console = teacher.page
        console.goto(f"{server}/lessons/{lesson_id}/live")
        expect(console.locator("#live-status")).to_have_text("直播中")
        # Recording started by itself at the planned start (the Room opened a minute before).
        expect(console.locator("#live-recording")).to_be_visible()
        labels = [a.page.evaluate("window.kelian.session.room.you.classroom"),
                  b.page.evaluate("window.kelian.session.room.you.classroom")]
        for label in labels:
            decodes(teacher, label, "video")
        decodes(b, "王老师", "video")
        teacher.shot("console-both-1366", prefix="timetable-")

        # B's link goes down: its socket and its requests fail. The console says it is
        # reconnecting; when the link returns, B rejoins by itself with a new seat.
        before = _joined_as(b)
        link.cut()
        expect(console.locator(f'#grid li[data-classroom="{labels[1]}"][data-state="reconnecting"]')
               ).to_be_visible(timeout=30_000)
        teacher.shot("console-b-dropped-1366", prefix="timetable-")
        time.sleep(CUT_S)
        link.restore()
        eventually(lambda: _joined_as(b) not in (None, before), "B rejoins by itself", 60)
        decodes(b, "王老师", "video")
        decodes(teacher, labels[1], "video")

        # The lesson ends by itself (planned end plus a minute's grace); the kiosks go back to
        # waiting by themselves.
        for screen in (a, b):
            expect(screen.page.locator("#waiting")).to_be_visible(timeout=120_000)
        expect(console.get_by_text("本节课已结束。")).to_be_visible()
        teacher.shot("console-ended-1366", prefix="timetable-")

        # The report: both classrooms came; B reconnected once; link quality was sampled.
        admin.page.goto(f"{server}/lessons/{lesson_id}/report")
        rows = admin.page.locator("table.attendance tbody tr")
        text = {row.locator("th").inner_text(): row.locator("td").all_inner_texts()
                for row in rows.all()}
        row_a = next(cells for name, cells in text.items() if labels[0] in name)
        row_b = next(cells for name, cells in text.items() if labels[1] in name)
        # Columns: role, joined, left, minutes, reconnects, freezes, quality.
        assert row_a[4] == "0", row_a
        assert row_b[4] == "1", row_b
        for cells in (row_a, row_b):
            assert re.fullmatch(r"\d+", cells[3]) and int(cells[3]) >= 5, cells  # of 10 planned
            assert re.fullmatch(r"\d+", cells[5]), cells  # the terminal reported itself
            assert cells[6].strip() and "无数据" not in cells[6], cells  # a grade was given
        expect(admin.page.locator("section").filter(has_text="画面帧率")).to_have_count(1)
        expect(admin.page.locator("dl.summary")).to_contain_text("应到 2 个，实到 2 个")
        admin.page.set_viewport_size({"width": 1366, "height": 1400})
        admin.shot("report-1366", prefix="timetable-")
        errors = [e for s in screens for e in s.errors
                  if "WebSocket" not in e and "ERR_" not in e]  # B's cut link logs those
        assert not errors, errors
    except BaseException:
        for screen in screens:
            screen.shot(f"failed-{screen.name}", prefix="timetable-")
            print(screen.diagnose())
        raise
    finally:
        for screen in screens:
            screen.close()
        link.close()
