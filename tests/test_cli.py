"""The `kelian` command, run as a real subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from server.demo import DEMO_SIGN_INS
from tests.helpers import eventually

REPO_ROOT = Path(__file__).resolve().parent.parent


def cli_env(tmp_path: Path, db_url: str | None = None, **extra: str) -> dict[str, str]:
    """The caller's environment without any KELIAN_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
    env["KELIAN_DATA_DIR"] = str(tmp_path / "data")
    if db_url:
        env["KELIAN_DATABASE_URL"] = db_url
    env.update(extra)
    return env


def kelian(env: dict[str, str], *args: str, stdin: str = "",
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args], input=stdin, env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def test_db_upgrade(tmp_path: Path, db_url: str) -> None:
    env = cli_env(tmp_path, db_url)
    for _ in range(2):
        done = kelian(env, "db", "upgrade")
        assert done.returncode == 0, done.stderr
        assert "newest schema" in done.stdout


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    done = kelian(cli_env(tmp_path), "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "kelian.db").is_file()


def test_user_add(tmp_path: Path, db_url: str) -> None:
    env = cli_env(tmp_path, db_url)
    done = kelian(env, "user", "add", "bob", "--role", "teacher", "--name", "鲍老师",
                  "--password-stdin", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    assert "bob" in done.stdout

    again = kelian(env, "user", "add", "bob", "--role", "admin", "--password-stdin",
                   stdin="another long password\n")
    assert again.returncode == 2
    assert "exists" in again.stderr

    short = kelian(env, "user", "add", "carol", "--role", "observer", "--password-stdin",
                   stdin="short\n")
    assert short.returncode == 2
    assert "at least" in short.stderr

    no_school = kelian(env, "user", "add", "dave", "--role", "teacher", "--school", "无此学校",
                       "--password-stdin", stdin="a long enough password\n")
    assert no_school.returncode == 2
    assert "无此学校" in no_school.stderr


def test_user_add_rejects_unknown_role(tmp_path: Path) -> None:
    done = kelian(cli_env(tmp_path), "user", "add", "eve", "--role", "root", "--password-stdin",
                  stdin="a long enough password\n")
    assert done.returncode == 2
    assert "--role" in done.stderr


@pytest.mark.parametrize(
    ("setting", "value", "args"),
    [
        ("KELIAN_PORT", "abc", ("serve",)),
        ("KELIAN_PORT", "99999", ("serve",)),
        ("KELIAN_DATABASE_URL", "mysql://x@y/z", ("db", "upgrade")),
        ("KELIAN_DEFAULT_LOCALE", "fr", ("demo",)),
    ],
)
def test_bad_setting_exits_2_naming_it(tmp_path: Path, setting: str, value: str,
                                       args: tuple[str, ...]) -> None:
    done = kelian(cli_env(tmp_path, **{setting: value}), *args, timeout=30)
    assert done.returncode == 2
    assert setting in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_config_file_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "kelian.toml"
    config.write_text("prot = 8080\n")
    done = kelian(cli_env(tmp_path), "--config", str(config), "db", "upgrade", timeout=30)
    assert done.returncode == 2
    assert "prot" in done.stderr


def test_demo_prints_sign_ins(tmp_path: Path, db_url: str) -> None:
    env = cli_env(tmp_path, db_url)
    done = kelian(env, "demo")
    assert done.returncode == 0, done.stderr
    for sign_in in DEMO_SIGN_INS:
        assert sign_in.username in done.stdout and sign_in.password in done.stdout
    assert "WARNING" in done.stdout

    again = kelian(env, "demo")
    assert again.returncode == 1
    assert "not loaded" in again.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def read_until(stream: asyncio.StreamReader, needle: str, timeout: float = 60) -> str:
    """Read lines until one contains `needle`; return everything read."""
    seen: list[str] = []

    async def go() -> str:
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"output ended before {needle!r}: {''.join(seen)}")
            seen.append(line.decode())
            if needle in seen[-1]:
                return "".join(seen)

    try:
        return await asyncio.wait_for(go(), timeout)
    except TimeoutError:
        raise AssertionError(f"no {needle!r} within {timeout}s: {''.join(seen)}") from None


async def test_serve(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    script = Path(sys.executable).with_name("kelian")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "server"]
    proc = await asyncio.create_subprocess_exec(
        *command, "serve", "--demo", "--port", str(port),
        env=cli_env(tmp_path, db_url, KELIAN_HOST="127.0.0.1"), cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        out = await read_until(proc.stdout, "Kelian is serving on")
        assert f"http://127.0.0.1:{port}" in out
        out += await read_until(proc.stdout, "WARNING")
        for sign_in in DEMO_SIGN_INS:
            assert sign_in.username in out and sign_in.password in out

        async def home_answers() -> int:
            async with aiohttp.ClientSession() as http, \
                    http.get(f"http://127.0.0.1:{port}/", allow_redirects=False) as resp:
                return resp.status

        status = await eventually(home_answers, timeout=20)
        assert status < 500
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode in (0, -15), f"exit {proc.returncode}"
