"""The server under test: a `kelian serve` child process on a fresh data dir, or one given by URL.

The child is started the way an operator would: `kelian user add` (the CLI) makes the admin
account on an empty embedded SQLite database in a temporary folder, then `kelian serve` runs on
a free port of 127.0.0.1 (through loadtest/serve.py, which keeps the relay's ICE on loopback).
Its CPU time and memory are read from /proc of its pid, so nothing in the server is asked.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ADMIN = "loadtest-admin"
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ServerError(Exception):
    pass


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # user + system, every thread
    rss_bytes: int


def usage_of(pid: int) -> Usage:
    """A process's CPU time and resident memory from /proc (10 ms resolution for CPU)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return Usage(cpu, rss_pages * _PAGE)


def udp_drops(pids: list[int]) -> int:
    """Datagrams the kernel dropped on these processes' UDP sockets (a full receive buffer):
    each socket's `drops` in /proc/net/udp, found by the inodes in /proc/PID/fd."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:  # gone, or a descriptor closed meanwhile
            continue
    drops = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 12 and fields[9] in inodes:
                drops += int(fields[12])
    return drops


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    """Where the scenario sends its traffic, how it signs in, and (when known) the server pid."""

    url: str
    admin_password: str | None = None  # sign in as ADMIN (our own server)
    admin_token: str | None = None  # or act with this admin API token (a given server)
    pid: int | None = None

    def usage(self) -> Usage | None:
        return usage_of(self.pid) if self.pid is not None else None


class KelianServer:
    """`kelian serve` on a temporary data dir; `stop()` ends it and removes the folder.

    `settings` adds KELIAN_* variables (e.g. a shared database and Redis, for several nodes);
    `admin_password` is that of an admin already in the database (else one is made)."""

    def __init__(self, log_level: str = "INFO", start_timeout: float = 60.0,
                 settings: Mapping[str, str] | None = None, admin_password: str | None = None,
                 loopback_ice: bool = True):
        self.dir = Path(tempfile.mkdtemp(prefix="kelian-loadtest-"))
        self.log_path = self.dir / "serve.log"
        password = admin_password or secrets.token_urlsafe(18)
        self.port = port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
        self.env.update(KELIAN_DATA_DIR=str(self.dir / "data"), KELIAN_LOG_LEVEL=log_level)
        self.env.update(settings or {})
        self.process: subprocess.Popen[bytes] | None = None
        try:
            if admin_password is None:
                self._cli(["user", "add", ADMIN, "--role", "admin", "--name", "Load test"],
                          password + "\n")
            with self.log_path.open("wb") as log:
                # loadtest.serve keeps the relay's ICE on 127.0.0.1; a browser's peers need
                # `kelian serve` as it is, on every interface.
                module = "loadtest.serve" if loopback_ice else "server"
                command = [] if loopback_ice else ["serve"]
                self.process = subprocess.Popen(
                    [sys.executable, "-m", module, *command, "--host", "127.0.0.1",
                     "--port", str(port)],
                    cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            self.target = Target(f"http://127.0.0.1:{port}", admin_password=password,
                                 pid=self.process.pid)
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _cli(self, args: list[str], stdin: str) -> None:
        done = subprocess.run([sys.executable, "-m", "server", *args, "--password-stdin"],
                              input=stdin, capture_output=True, text=True, cwd=REPO,
                              env=self.env, timeout=120)
        if done.returncode != 0:
            raise ServerError(f"kelian {' '.join(args)} failed: {done.stderr[-2000:]}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.target.url + "/login", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"kelian serve did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_errors(self, limit: int = 10) -> list[str]:
        """ERROR lines and tracebacks' last lines of the server log (a run should have none)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line[:300] for line in lines if " ERROR " in line][:limit]

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug (the folder stays until `stop`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def terminate(self) -> None:
        """SIGTERM (aiohttp shuts down gracefully), then SIGKILL after 20 s; the folder stays
        until `stop`."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """`terminate`, and remove the folder."""
        self.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)
