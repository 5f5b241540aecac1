"""A classroom terminal whose media must go through TURN, with a real coturn.

Debian's coturn (`apt-get install coturn`) runs on loopback with the TURN REST API secret;
`kelian serve --demo` hands out its URL and per-participant credentials and forces relay-only
ICE (`ice_relay_only`). Headless Chromium opens a teaching point's kiosk page; the teacher's
console starts the lesson. The terminal decodes the teacher's camera, and its receive
connection's selected candidate pair has a local candidate of type `relay`: the media went
through coturn, which logged the terminal's credentials.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.pages.conftest import browser, chromium  # noqa: F401 (fixtures)
from tests.pages.demo_server import free_port, serve_demo
from tests.pages.test_live_browser import (
    LAPTOP,
    PATIENCE_S,
    TV,
    Screen,
    decodes,
    eventually,
    lesson_and_terminals,
)

pytestmark = pytest.mark.browser

SECRET = secrets.token_hex(16)
# The local candidate type of the receive connection's selected pair (webrtc-stats).
SELECTED_LOCAL_TYPE = """async () => {
  const receiver = window.kelian && window.kelian.session && window.kelian.session.receiver;
  if (!receiver) return null;
  const report = await receiver.pc.getStats();
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
  });
  if (!pair || pair.state !== "succeeded") return null;
  const local = byId.get(pair.localCandidateId);
  return local ? local.candidateType : null;
}"""


class Coturn:
    """`turnserver` on 127.0.0.1 with the TURN REST API secret; its log for the assertions."""

    def __init__(self, log: Path) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            skip_or_fail("coturn is not installed", "KELIAN_TEST_REQUIRE_TURN")
        self.port = free_port()
        self.log = log
        low = 40000 + (self.port % 200) * 100  # relay ports of its own when tests run at once
        # -n: no /etc/turnserver.conf; its own database and pid file, its log on stdout.
        with log.open("wb") as out:
            self.proc = subprocess.Popen([
                str(binary), "-n", "--use-auth-secret", f"--static-auth-secret={SECRET}",
                "--realm=kelian", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                f"--listening-port={self.port}", f"--min-port={low}", f"--max-port={low + 99}",
                "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli", "--verbose",
                "--log-file=stdout", f"--userdb={log.with_suffix('.db')}",
                f"--pidfile={log.with_suffix('.pid')}",
            ], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while "Total General servers" not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"turnserver did not start:\n{self.text()}")
            time.sleep(0.1)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn") / "turn.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, coturn: Coturn) -> Iterator[str]:
    yield from serve_demo(tmp_path_factory, settings={
        "KELIAN_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp,"
                            f"turn:127.0.0.1:{coturn.port}?transport=tcp",
        "KELIAN_TURN_SECRET": SECRET,
        "KELIAN_ICE_RELAY_ONLY": "true",
    })


def test_a_relay_only_terminal_receives_the_lesson_through_coturn(
        browser: Any, server: str, coturn: Coturn) -> None:  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=PATIENCE_S * 1000)
    lesson, [token] = lesson_and_terminals(browser, server, classrooms=1)

    teacher = Screen(browser, server, LAPTOP, "teacher")
    point = Screen(browser, server, TV, "point")
    try:
        point.page.goto(f"{server}/terminal#token={token}")
        expect(point.page.get_by_text("下一节课")).to_be_visible()
        teacher.sign_in("teacher", "kelian-teacher")
        teacher.page.goto(f"{server}/lessons/{lesson['id']}/live")
        teacher.page.get_by_role("button", name="开始上课").click()
        expect(teacher.page.locator("#live-status")).to_have_text("直播中")

        expect(point.page.locator("#live")).to_be_visible()
        config = eventually(lambda: point.page.evaluate(
            "window.kelian.session && window.kelian.session.receiver"
            " && window.kelian.session.receiver.pc.getConfiguration()"), "the terminal joins")
        assert config["iceTransportPolicy"] == "relay"
        [turn] = config["iceServers"]
        assert turn["username"].split(":", 1)[1].startswith("terminal:")

        decodes(point, "王老师", "video")
        local = eventually(lambda: point.page.evaluate(SELECTED_LOCAL_TYPE),
                           "the terminal's receive connection selects a candidate pair")
        assert local == "relay"
        # coturn saw the terminal's own credentials (its log names the username).
        assert turn["username"] in coturn.text()
        point.shot("terminal-turn-1920", prefix="turn-")
        assert not point.errors, point.errors
    except BaseException:
        point.shot("failed-point", prefix="turn-")
        print(point.diagnose())
        print(coturn.text()[-4000:])
        raise
    finally:
        point.close()
        teacher.close()
