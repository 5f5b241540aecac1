"""The real service on fresh demo data, as a subprocess, for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_demo(tmp_path_factory: pytest.TempPathFactory, data_dir: Path | None = None,
               settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start `kelian serve --demo` on a free port, yield its URL once /login answers,
    then stop (and reap) it. `data_dir` (its database and library) when the test adds to it;
    `settings` as KELIAN_* variables (RTMP is off unless given a port)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
    env["KELIAN_DATA_DIR"] = str(data_dir or tmp_path_factory.mktemp("serve"))
    # Browser tests start their lessons by hand; the scheduler would open the demo's timetabled
    # lessons by the wall clock and the terminals would join those instead.
    env["KELIAN_SCHEDULER"] = "false"
    env["KELIAN_RTMP_PORT"] = "0"  # several test servers may run at once
    env.update(settings or {})
    log = tmp_path_factory.mktemp("log") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--demo", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"kelian serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
