"""The `fanout` scenario: one publisher, N non-decoding subscribers, one target server.

Timeline of one run: start the target's control server (its own process), publish the clip
(its own process), note the server's memory, join N subscribers spread over worker
processes, warm up, then measure over a steady window: the server's own CPU time and memory,
and what every subscriber received. Every step has a deadline.

The `janus` targets are a Janus process instead of a control server (loadtest/janus.py), run with
the load generators in a private network namespace (loadtest/netns.py): the publisher sends
it plain RTP, subscribers join through its HTTP API.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

from .clip import CLIP_SECONDS
from .figures import RunFigures, summarise
from .janus import MOUNTPOINT_ID, JanusError, JanusServer
from .janus import TARGETS as JANUS_TARGETS
from .kelian import udp_drops
from .netns import NamespaceError, private_network
from .plainrtp import RtpDestination
from .publisher import PublisherResult, run_publisher
from .subscriber import WorkerResult, run_worker

SUBSCRIBERS_PER_WORKER = 40
MAX_WORKERS = 4


@dataclass(frozen=True)
class FanoutOptions:
    target: str
    subscribers: int
    duration_s: float
    warmup_s: float
    cache_dir: Path
    workers: int | None = None
    clip_seconds: int = CLIP_SECONDS
    profile_dir: Path | None = None  # py-spy the server into DIR/profile-TARGET-N.txt


class RunError(Exception):
    pass


class Server(Protocol):
    url: str

    def stats(self) -> dict[str, float]: ...

    def close(self) -> None: ...


class ControlServer:
    """The target's control server as a child process (python -m loadtest.control), run under
    `py-spy record` (collapsed stacks into `profile`) when asked."""

    def __init__(self, target: str, profile: Path | None = None):
        command = [sys.executable, "-m", "loadtest.control", "--target", target]
        if profile is not None:
            command = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw",
                       "--rate", "250", "--nonblocking", "--output", str(profile), "--", *command]
        self.profiling = profile is not None
        self.server_pid: int | None = None
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parent.parent)
        assert self.process.stdout is not None
        line = ""
        for _ in range(10):  # py-spy prints a line of its own first
            line = self.process.stdout.readline()  # bounded: the child prints or exits
            if line.startswith("PORT ") or not line:
                break
        if not line.startswith("PORT "):
            self.close()
            raise RunError(f"the {target} control server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stats(self) -> dict[str, float]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            stats = json.load(response)
        self.server_pid = int(stats["pid"])
        return stats

    def close(self) -> None:
        if self.profiling and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # py-spy writes its profile and stops
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            if self.server_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.server_pid, signal.SIGTERM)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _receive(conn: Connection, kind: str, timeout: float) -> tuple:
    if not conn.poll(timeout):
        raise RunError(f"no {kind!r} message within {timeout:.0f}s")
    message = conn.recv()
    if message[0] != kind:
        if message[0] == "result" and getattr(message[1], "error", None):
            raise RunError(f"expected {kind!r}, the process failed: {message[1].error}")
        raise RunError(f"expected {kind!r}, got {message[0]!r}")
    return message


def run_fanout(options: FanoutOptions) -> RunFigures:
    with contextlib.ExitStack() as stack:
        if options.target in JANUS_TARGETS:
            try:
                interface = stack.enter_context(private_network())
                janus = JanusServer(interface, JANUS_TARGETS[options.target])
            except (NamespaceError, JanusError) as exc:
                raise RunError(str(exc)) from exc
            stack.callback(janus.close)
            return _run(options, janus, janus.destination, MOUNTPOINT_ID, janus.log_errors)
        profile = None
        if options.profile_dir is not None:
            options.profile_dir.mkdir(parents=True, exist_ok=True)
            profile = options.profile_dir / f"profile-{options.target}-{options.subscribers}.txt"
        server = ControlServer(options.target, profile)
        stack.callback(server.close)
        return _run(options, server, server.url, None, list)


def _run(options: FanoutOptions, server: Server, publish_to: str | RtpDestination,
         janus_mountpoint: int | None, server_errors: Callable[[], list[str]]) -> RunFigures:
    """One run against a started server; the caller stops it."""
    context = multiprocessing.get_context("spawn")
    n = options.subscribers
    workers = options.workers or min(MAX_WORKERS, max(1, math.ceil(n / SUBSCRIBERS_PER_WORKER)))
    budget = options.warmup_s + options.duration_s + 60 + n * 0.5
    processes: list[multiprocessing.process.BaseProcess] = []
    try:
        pub_conn, pub_child = context.Pipe()
        publisher = context.Process(target=run_publisher, name="loadtest-publisher",
                                    args=(publish_to, str(options.cache_dir), options.clip_seconds,
                                          pub_child, budget))
        publisher.start()
        processes.append(publisher)
        _receive(pub_conn, "published", 120)  # the first run may generate the clip
        time.sleep(2.0)
        rss_base = int(server.stats()["rss_bytes"])

        names = [f"classroom-{i:04d}" for i in range(n)]
        conns: list[Connection] = []
        for w in range(workers):
            conn, child = context.Pipe()
            process = context.Process(target=run_worker, name=f"loadtest-subscribers-{w}",
                                      args=(server.url, names[w::workers], child,
                                            janus_mountpoint))
            process.start()
            processes.append(process)
            conns.append(conn)
        errors: list[str] = []
        for conn in conns:
            errors.extend(_receive(conn, "joined", 30 + n * 0.5)[1])

        time.sleep(options.warmup_s)
        generator_pids = [p.pid for p in processes if p.pid is not None]
        for conn in [*conns, pub_conn]:
            conn.send(("mark",))
        before = server.stats()
        drops = udp_drops([int(before["pid"])]), udp_drops(generator_pids)
        t0 = time.monotonic()
        time.sleep(options.duration_s)
        after = server.stats()
        t1 = time.monotonic()
        drops = (udp_drops([int(after["pid"])]) - drops[0],
                 udp_drops(generator_pids) - drops[1])
        loadavg = os.getloadavg()

        pub_conn.send(("stop",))
        pub_result: PublisherResult = _receive(pub_conn, "result", 30)[1]
        if pub_result.error and not pub_result.sent:
            raise RunError(f"the publisher failed: {pub_result.error}")
        results: list[WorkerResult] = []
        for conn in conns:
            conn.send(("report", t0, t1, pub_result.sent))
        for conn in conns:
            results.append(_receive(conn, "result", 60)[1])
        for result in results:
            errors.extend(result.errors)
        errors.extend(server_errors())
        publisher_cpu = (pub_result.cpu_marks[-1] - pub_result.cpu_marks[0]
                         if len(pub_result.cpu_marks) >= 2 else 0.0)
        forwarded = after.get("packets_forwarded")
        return summarise(
            scenario="fanout", target=options.target, subscribers=n, window_s=t1 - t0,
            figures=[f for r in results for f in r.subscribers],
            server_cpu_s=after["cpu_s"] - before["cpu_s"], server_rss_base=rss_base,
            server_rss_end=int(after["rss_bytes"]),
            server_forwarded=(None if forwarded is None
                              else int(forwarded - before.get("packets_forwarded", 0))),
            keyframe_requests=pub_result.keyframe_requests, t0=t0, t1=t1,
            generator_cpu_s=sum(r.cpu_s for r in results) + publisher_cpu,
            publisher_packets_sent=pub_result.packets_sent,
            loadavg=(round(loadavg[0], 2), round(loadavg[1], 2), round(loadavg[2], 2)),
            errors=errors, server_udp_drops=drops[0], generator_udp_drops=drops[1])
    finally:
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
                process.join()
