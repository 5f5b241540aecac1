"""The `classrooms` scenario: K concurrent dedicated lessons (专递课堂), each a hub teacher and
three teaching-point terminals, everyone publishing and receiving through /ws and the relay.

Timeline of one run: start `kelian serve` (or use `--url`), make and start K lessons through
the API, note the server's memory, start the parties in worker processes (whole lessons per
worker), wait until every party receives what the rules send it (the hub: each point's camera;
a point: the teacher's camera and microphone), warm up, then measure a steady window: the
server's CPU and memory from /proc, and every packet each party received.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .clip import CLIP_SECONDS, default_cache_dir, load_clip
from .kelian import KelianServer, Target, udp_drops
from .party import PartiesResult, PartyFigures, PartySpec, run_parties
from .phases import Workers, ms
from .seed import SeededLesson, end_lesson, seed_classrooms
from .subscriber import _unwrap

POINTS = 3
MAX_WORKERS = 4


@dataclass(frozen=True)
class ClassroomsOptions:
    lessons: int
    duration_s: float = 15.0
    warmup_s: float = 4.0
    ready_timeout_s: float = 45.0
    cache_dir: Path = default_cache_dir()
    clip_seconds: int = CLIP_SECONDS
    workers: int | None = None
    url: str | None = None
    admin_token: str | None = None
    server_pid: int | None = None
    record: bool = False  # the lessons record (off: measure the relay alone)


@dataclass
class ClassroomsFigures:
    scenario: str
    target: str
    lessons: int
    record: bool
    parties: int
    workers: int
    streams_expected: int  # forwarded streams the rules ask for, over all lessons
    streams_received: int  # with packets in the window
    packets_forwarded: int  # received by all parties in the window
    packets_published: int  # sent by all parties in the window (the relay decrypts them all)
    cpu_us_per_packet: float | None  # server CPU / packets forwarded
    server_cpu_cores: float | None
    cpu_ms_per_lesson_s: float | None
    loss_pct: float | None  # mean over streams
    loss_pct_max: float | None
    delay_p50_ms: float | None  # publisher send -> party arrival, video, by payload CRC
    delay_p99_ms: float | None
    delay_matched_pct: float | None
    join_p50_ms: float | None  # socket open -> room state
    join_p99_ms: float | None
    keyframe_p50_ms: float | None  # max(receiver's join, publisher's publish) -> 1st keyframe
    keyframe_p99_ms: float | None
    videos_without_keyframe: int
    server_udp_drops: int | None  # datagrams the kernel dropped on the server's sockets
    generator_udp_drops: int  # … on the parties' sockets (in the window, both)
    keyframe_requests_at_publishers: int
    keyframe_requests_in_window: int
    server_rss_base_mb: float | None
    rss_mb_per_lesson: float | None
    server_rss_mb: float | None
    generator_cpu_cores: float
    window_s: float
    loadavg: tuple[float, float, float]
    errors: list[str]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _specs(lesson: SeededLesson) -> list[PartySpec]:
    hub = PartySpec(lesson.lesson_id, lesson.host, True, len(lesson.terminals), 0)
    return [hub, *(PartySpec(lesson.lesson_id, seat, False, 1, 1) for seat in lesson.terminals)]


def run_classrooms(options: ClassroomsOptions) -> ClassroomsFigures:
    load_clip(options.cache_dir, options.clip_seconds)  # generated once, outside the run
    own = None if options.url else KelianServer()
    target = own.target if own else Target(options.url or "", admin_token=options.admin_token,
                                           pid=options.server_pid)
    workers = Workers()
    lessons: list[SeededLesson] = []
    try:
        lessons = asyncio.run(seed_classrooms(target, options.lessons, POINTS,
                                              f"lt{secrets.token_hex(3)}", options.record))
        figures = _run(options, target, workers, lessons)
        if own is not None:
            figures.errors += [f"server log: {line}" for line in own.log_errors()]
        return figures
    finally:
        workers.close()
        if options.url and lessons:
            for lesson in lessons:  # a given server keeps no live test lesson behind
                asyncio.run(end_lesson(target, lesson.host, lesson.lesson_id))
        if own is not None:
            own.stop()


def _run(options: ClassroomsOptions, target: Target, workers: Workers,
         lessons: list[SeededLesson]) -> ClassroomsFigures:
    count = options.workers or min(MAX_WORKERS, len(lessons))
    base = target.usage()
    for w in range(count):
        specs = [spec for lesson in lessons[w::count] for spec in _specs(lesson)]
        workers.start(run_parties, f"loadtest-classrooms-{w}", target.url, specs,
                      str(options.cache_dir), options.clip_seconds, options.ready_timeout_s)
    missing = [m for worker in workers.gather("ready", options.ready_timeout_s + 90)
               for m in worker]
    time.sleep(options.warmup_s)
    generators = [p.pid for p in workers.processes if p.pid is not None]
    server = [target.pid] if target.pid is not None else []
    workers.broadcast(("mark",))
    before = target.usage()
    server_drops, generator_drops = udp_drops(server), udp_drops(generators)
    t0 = time.monotonic()
    time.sleep(options.duration_s)
    after = target.usage()
    t1 = time.monotonic()
    server_drops, generator_drops = (udp_drops(server) - server_drops,
                                     udp_drops(generators) - generator_drops)
    loadavg = os.getloadavg()
    results: list[PartiesResult] = workers.ask(("report", t0, t1), "result", 120)
    figures = _summarise(options, results, t0, t1, count)
    figures.errors = [f"not flowing: {m}" for m in missing] + figures.errors
    figures.server_udp_drops = server_drops if server else None
    figures.generator_udp_drops = generator_drops
    figures.loadavg = (round(loadavg[0], 2), round(loadavg[1], 2), round(loadavg[2], 2))
    if before is not None and after is not None and base is not None:
        cpu = after.cpu_s - before.cpu_s
        figures.server_cpu_cores = round(cpu / (t1 - t0), 3)
        figures.cpu_ms_per_lesson_s = round(cpu * 1000 / (t1 - t0) / len(lessons), 2)
        figures.cpu_us_per_packet = (round(cpu * 1e6 / figures.packets_forwarded, 2)
                                     if figures.packets_forwarded else None)
        figures.server_rss_base_mb = round(base.rss_bytes / 2**20, 1)
        figures.server_rss_mb = round(after.rss_bytes / 2**20, 1)
        figures.rss_mb_per_lesson = round((after.rss_bytes - base.rss_bytes) / 2**20
                                          / len(lessons), 2)
    return figures


def _loss(seqs: list[int]) -> tuple[int, int]:
    """(received, expected) from one stream's sequence numbers."""
    unique = _unwrap(seqs)
    return (len(unique), max(unique) - min(unique) + 1) if unique else (0, 0)


@dataclass
class Received:
    """What the parties received in the window, over all their streams."""

    losses: list[float] = field(default_factory=list)  # % per stream
    delays: list[float] = field(default_factory=list)  # ms, video packets matched by payload
    keyframes: list[float] = field(default_factory=list)  # ms to each video's 1st keyframe
    unmatched: int = 0
    forwarded: int = 0  # packets
    streams: int = 0  # with packets
    without_keyframe: int = 0
    notices: list[str] = field(default_factory=list)

    @property
    def matched_pct(self) -> float | None:
        total = len(self.delays) + self.unmatched
        return round(100 * len(self.delays) / total, 1) if total else None


def received(parties: list[PartyFigures]) -> Received:
    """Loss per stream (sequence numbers), publisher→receiver delay of video packets (matched
    by the publisher and the payload's CRC-32) and time to each video's first keyframe."""
    by_id = {p.participant_id: p for p in parties if p.participant_id}
    out = Received()
    for party in parties:
        out.notices += [f"{party.name}: notice {n}" for n in party.notices]
        for stream in party.streams:
            publisher = by_id.get(stream.publisher)
            if stream.times:
                out.streams += 1
                got, expected = _loss(list(stream.seqs))
                out.forwarded += got
                out.losses.append(100 * (1 - got / expected) if expected else 0.0)
            if stream.kind != "video" or publisher is None:
                continue
            start = max(party.join_started, publisher.publish_started or party.join_started)
            if stream.keyframe_at is None:
                out.without_keyframe += 1
            else:
                out.keyframes.append((stream.keyframe_at - start) * 1000)
            for t, crc in zip(stream.times, stream.crcs, strict=True):
                sends = publisher.stamps.get(crc)
                at = bisect.bisect_right(sends, t) if sends else 0
                if at == 0:
                    out.unmatched += 1
                else:
                    out.delays.append((t - sends[at - 1]) * 1000)  # type: ignore[index]
    return out


def _summarise(options: ClassroomsOptions, results: list[PartiesResult], t0: float, t1: float,
               count: int) -> ClassroomsFigures:
    parties: list[PartyFigures] = [p for r in results for p in r.parties]
    got = received(parties)
    errors = [e for r in results for e in r.errors] + got.notices
    losses, delays, keyframes = got.losses, got.delays, got.keyframes
    lessons = options.lessons
    expected_streams = lessons * (POINTS + 2 * POINTS)  # hub: each camera; points: cam + mic
    joins = [p.join_ms for p in parties if p.join_ms is not None]
    requests = [t for p in parties for t in p.keyframe_requests]
    return ClassroomsFigures(
        scenario="classrooms", target="kelian", lessons=lessons, record=options.record,
        parties=len(parties),
        workers=count, streams_expected=expected_streams, streams_received=got.streams,
        packets_forwarded=got.forwarded, packets_published=sum(p.packets_sent for p in parties),
        cpu_us_per_packet=None, server_cpu_cores=None, cpu_ms_per_lesson_s=None,
        loss_pct=round(sum(losses) / len(losses), 3) if losses else None,
        loss_pct_max=round(max(losses), 3) if losses else None,
        delay_p50_ms=ms(delays, 50, 2), delay_p99_ms=ms(delays, 99, 2),
        delay_matched_pct=got.matched_pct,
        join_p50_ms=ms(joins, 50), join_p99_ms=ms(joins, 99),
        keyframe_p50_ms=ms(keyframes, 50, 0), keyframe_p99_ms=ms(keyframes, 99, 0),
        videos_without_keyframe=got.without_keyframe,
        server_udp_drops=None, generator_udp_drops=0,
        keyframe_requests_at_publishers=len(requests),
        keyframe_requests_in_window=sum(1 for t in requests if t0 <= t < t1),
        server_rss_base_mb=None, rss_mb_per_lesson=None, server_rss_mb=None,
        generator_cpu_cores=round(sum(r.cpu_s for r in results) / (t1 - t0), 3),
        window_s=round(t1 - t0, 2), loadavg=(0.0, 0.0, 0.0), errors=errors[:20])


__all__ = ["ClassroomsFigures", "ClassroomsOptions", "run_classrooms"]
