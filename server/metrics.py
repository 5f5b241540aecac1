"""`GET /metrics`: the node's numbers in Prometheus' text format, for operators.

Readable from the node itself (a Prometheus on the same machine) or with an admin's API token
(`Authorization: Bearer ka_…`, Prometheus' `bearer_token`). Everything is read when scraped:
nothing on the packet path counts for it.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable

from aiohttp import web
from sqlalchemy import func, select

from .errors import ErrorCode, KelianError
from .http import principal
from .keys import LIVE, SESSIONS
from .models import Job, JobState
from .signalling.connection import SOCKETS

LOOPBACK = ("127.0.0.1", "::1")
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class ErrorCount(logging.Handler):
    """Counts the log records at ERROR and above, by logger: `kelian_log_errors_total`."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.name] += 1


ERRORS = ErrorCount()
logging.getLogger().addHandler(ERRORS)


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, lines: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *lines]


def _process() -> tuple[float, int]:
    """CPU seconds and resident bytes of this process, from /proc."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1]) * _PAGE
    return cpu, resident


def may_scrape(is_admin: bool, remote: str | None) -> bool:
    return is_admin or remote in LOOPBACK


async def metrics(request: web.Request) -> web.Response:
    if not may_scrape(principal(request).is_admin, request.remote):
        raise KelianError(ErrorCode.forbidden, "Metrics are for this machine or an admin's token")
    rooms = request.app[LIVE].rooms()
    roles: Counter[str] = Counter()
    publications = subscriptions = forwarded = recording = 0
    publishing_bps = 0.0
    for room in rooms:
        roles.update(p.role.value for p in room.participants.values())
        stats = room.media.stats()
        publications += len(stats.publications)
        subscriptions += len(stats.subscriptions)
        forwarded += stats.forwarded_packets
        publishing_bps += sum(s.bitrate_bps for s in stats.publications.values())
        recording += room.recording
    async with request.app[SESSIONS]() as db:
        rows = (await db.execute(
            select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))).all()
    jobs = {(kind, state): count for kind, state, count in rows}
    cpu, resident = _process()
    out: list[str] = []
    out += _family("kelian_rooms", "gauge", "Live lesson Rooms on this node.", [
        _line("kelian_rooms", len(rooms))])
    out += _family("kelian_participants", "gauge", "Participants in this node's Rooms, by role.",
                   [_line("kelian_participants", n, {"role": r}) for r, n in sorted(roles.items())]
                   or [_line("kelian_participants", 0, {"role": "host"})])
    out += _family("kelian_publications", "gauge", "Publications forwarded by the relay.", [
        _line("kelian_publications", publications)])
    out += _family("kelian_subscriptions", "gauge", "Subscriptions the relay sends.", [
        _line("kelian_subscriptions", subscriptions)])
    out += _family("kelian_subscription_packets", "gauge",
                   "Packets sent so far on the open Subscriptions (drops when they close).", [
                       _line("kelian_subscription_packets", forwarded)])
    out += _family("kelian_publishing_bits_per_second", "gauge",
                   "What the publishers send the relay, summed.", [
                       _line("kelian_publishing_bits_per_second", publishing_bps)])
    out += _family("kelian_recordings", "gauge", "Rooms being recorded.", [
        _line("kelian_recordings", recording)])
    out += _family("kelian_signalling_sockets", "gauge", "Open /ws sockets.", [
        _line("kelian_signalling_sockets", len(request.app[SOCKETS].open))])
    out += _family("kelian_jobs", "gauge", "Background jobs in the database, by kind and state.",
                   [_line("kelian_jobs", n, {"kind": k, "state": s.value})
                    for (k, s), n in sorted(jobs.items())]
                   or [_line("kelian_jobs", 0, {"kind": "transcode",
                                                "state": JobState.queued.value})])
    out += _family("kelian_log_errors_total", "counter", "Log records at ERROR or above.", [
        _line("kelian_log_errors_total", n, {"logger": name})
        for name, n in sorted(ERRORS.counts.items())] or [_line("kelian_log_errors_total", 0)])
    out += _family("process_cpu_seconds_total", "counter", "CPU time of this node.", [
        _line("process_cpu_seconds_total", cpu)])
    out += _family("process_resident_memory_bytes", "gauge", "Resident memory of this node.", [
        _line("process_resident_memory_bytes", resident)])
    return web.Response(body=("\n".join(out) + "\n").encode(), headers={
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
