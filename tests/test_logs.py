"""Structured logs: the JSON formatter, the `log_format` setting, and a real `kelian serve` in
either mode writing access lines that keep secrets out (in json mode, one object per line)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from server.cli import main
from server.config import ConfigError, load_settings
from server.logs import JsonFormatter, loggable_path
from tests.pages.demo_server import free_port

ROOT = Path(__file__).resolve().parent.parent


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.getLogger("kelian.test").makeRecord(
        "kelian.test", logging.WARNING, __file__, 1, msg, args, exc_info, extra=extra)
    record.created = 1_764_400_000.1234  # 2025-11-29T07:06:40.123Z
    return record


def test_a_record_with_context_is_one_json_line() -> None:
    line = JsonFormatter().format(_record("lesson %d: %s joined", 7, "p-1", lesson_id=7,
                                          participant="p-1", classroom="石角镇 · 一年级",
                                          opened=[1, 2], path=Path("/x")))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2025-11-29T07:06:40.123Z", "level": "WARNING", "logger": "kelian.test",
        "msg": "lesson 7: p-1 joined", "lesson_id": 7, "participant": "p-1",
        "classroom": "石角镇 · 一年级", "opened": [1, 2], "path": "/x",
    }


def test_an_exception_goes_in_exc_and_context_cannot_hide_the_core_fields() -> None:
    out = json.loads(JsonFormatter().format(_record("failed", exc=True, level="x", ts="y")))
    assert out["level"] == "WARNING" and out["ts"].endswith("Z") and out["msg"] == "failed"
    assert out["exc"].startswith("Traceback") and "ValueError: boom" in out["exc"]


def test_the_whip_stream_key_is_hidden_from_paths() -> None:
    assert loggable_path("/whip/k3y") == "/whip/***"
    assert loggable_path("/whip/k3y/res") == "/whip/***/res"
    assert loggable_path("/whep/5/res") == "/whep/5/res"
    assert loggable_path("/login") == "/login"


def test_log_format_is_text_or_json() -> None:
    assert load_settings(env={}).log_format == "text"
    assert load_settings(env={"KELIAN_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match=r"KELIAN_LOG_FORMAT is invalid: 'xml'; use one of "
                                          r"text, json"):
        load_settings(env={"KELIAN_LOG_FORMAT": "xml"})


def test_the_command_stops_on_a_wrong_log_format(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KELIAN_LOG_FORMAT", "logfmt")
    assert main(["timetable", "generate"]) == 2
    assert "KELIAN_LOG_FORMAT is invalid: 'logfmt'" in capsys.readouterr().err


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _serve_and_log(tmp_path: Path, log_format: str) -> str:
    """Serve, send requests with secrets in the query, a header and a WHIP path; stderr."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
    env |= {"KELIAN_DATA_DIR": str(tmp_path), "KELIAN_SCHEDULER": "false",
            "KELIAN_LOG_FORMAT": log_format}
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(url + "/login") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"kelian serve did not start:\n{stderr.read_text(errors='replace')}")
            time.sleep(0.2)
        assert _get(url + "/login?token=SECRET-QUERY") == 200
        assert _get(url + "/api/v1/me", {"Authorization": "Bearer SECRET-BEARER"}) == 401
        assert _get(url + "/whip/SECRET-KEY", {"Content-Type": "application/sdp"},
                    b"v=0\r\n") >= 400
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return stderr.read_text(encoding="utf-8")


def test_serve_in_text_mode_logs_requests_without_secrets(tmp_path: Path) -> None:
    output = _serve_and_log(tmp_path, "text")
    assert "SECRET" not in output
    assert re.search(r"INFO kelian\.access: GET /login 200 [\d.]+ ms", output), output
    assert "kelian.access: POST /whip/*** 4" in output
    assert "aiohttp.access" not in output


def test_serve_in_json_mode_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    output = _serve_and_log(tmp_path, "json")
    assert "SECRET" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "kelian.access"]
    logins = [line for line in access if line["path"] == "/login" and line["status"] == 200]
    assert len(logins) >= 2  # with and without the query string
    first = logins[0]
    assert first["method"] == "GET" and first["remote"] == "127.0.0.1"
    assert isinstance(first["duration_ms"], float) and first["level"] == "INFO"
    assert {"path": "/api/v1/me", "status": 401} in [
        {"path": line["path"], "status": line["status"]} for line in access]
    assert any(line["path"] == "/whip/***" for line in access)
    assert not any(line["logger"] == "aiohttp.access" for line in lines)  # replaced, not doubled
