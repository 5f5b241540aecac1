"""The `broadcast` scenario: one famous_school lesson (名校网络课堂) — the teacher publishing the
pre-encoded clip, N receiving classrooms that only receive — served by one node or by several
(the cascade: each node serves up to ceil(N / nodes) receivers, the others pull the teacher's
media from the lesson's origin once).

Several nodes need a PostgreSQL server (`--postgres`, where a database of the run's own is made
and dropped) and Redis (`--redis`, under a key prefix of the run's own). Timeline: start the
nodes, make and start the lesson through the API, start the parties in worker processes, wait
until every receiver gets the teacher's camera and microphone, warm up, then measure a steady
window: every node's CPU from /proc and every packet each receiver got.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
from redis import Redis
from sqlalchemy.engine import make_url

from .classrooms import received
from .clip import CLIP_SECONDS, default_cache_dir, load_clip
from .kelian import KelianServer, Target
from .party import PartiesResult, PartySpec, run_parties
from .phases import Workers, ms
from .seed import SeededLesson, seed_crowd

PER_WORKER = 40  # receivers per worker process


@dataclass(frozen=True)
class BroadcastOptions:
    receivers: int
    nodes: int = 1
    duration_s: float = 15.0
    warmup_s: float = 4.0
    ready_timeout_s: float = 60.0
    cache_dir: Path = default_cache_dir()
    clip_seconds: int = CLIP_SECONDS
    workers: int | None = None
    postgres: str | None = None  # maintenance URL: postgresql://user@host:5432/postgres
    redis: str | None = None  # redis://host:6379/0


@dataclass
class BroadcastFigures:
    scenario: str
    target: str
    nodes: int
    receivers: int
    receivers_by_node: list[int]  # as the nodes counted them (the cascade's split)
    node_cpu_cores: list[float]  # each node's CPU over the window, in cores
    server_cpu_cores: float  # all nodes
    busiest_node_cores: float
    receivers_per_busiest_core: float | None  # receivers ÷ the busiest node's cores
    packets_forwarded: int  # received by all receivers in the window
    cpu_us_per_packet: float | None  # all nodes' CPU ÷ packets forwarded
    streams_expected: int
    streams_received: int
    loss_pct: float | None
    loss_pct_max: float | None
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    delay_matched_pct: float | None
    keyframe_p99_ms: float | None
    generator_cpu_cores: float
    window_s: float
    loadavg: tuple[float, float, float]
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


async def _database(maintenance: str, create: bool, name: str) -> str:
    base = make_url(maintenance).set(drivername="postgresql")
    connection = await asyncpg.connect(base.render_as_string(hide_password=False))
    try:
        if create:
            await connection.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
                                     f"TEMPLATE template0")
        else:
            await connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await connection.close()
    return base.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)


def run_broadcast(options: BroadcastOptions) -> BroadcastFigures:
    if options.nodes > 1 and not (options.postgres and options.redis):
        raise ValueError("several nodes need --postgres and --redis")
    load_clip(options.cache_dir, options.clip_seconds)  # generated once, outside the run
    tag = secrets.token_hex(4)
    database = f"kelian_lt_{tag}"
    prefix = f"kelian-lt-{tag}:"
    settings: dict[str, str] = {"KELIAN_RTMP_PORT": "0", "KELIAN_SCHEDULER": "false"}
    if options.nodes > 1:
        assert options.postgres and options.redis
        settings |= {
            "KELIAN_DATABASE_URL": asyncio.run(_database(options.postgres, True, database)),
            "KELIAN_REDIS_URL": options.redis, "KELIAN_REDIS_PREFIX": prefix,
            "KELIAN_ROOM_MAX_RECEIVERS": str(math.ceil(options.receivers / options.nodes))}
    servers: list[KelianServer] = []
    workers = Workers()
    try:
        for _ in range(options.nodes):
            password = servers[0].target.admin_password if servers else None
            servers.append(KelianServer(settings=settings, admin_password=password))
        first = servers[0].target
        lesson = asyncio.run(seed_crowd(Target(first.url, first.admin_password),
                                        options.receivers, "famous_school", f"bc{tag}"))
        redis = options.redis
        split = (lambda: _split(redis, prefix, lesson.lesson_id, servers)) if redis and \
            options.nodes > 1 else (lambda: [options.receivers])
        figures = _run(options, servers, workers, lesson, split)
        for server in servers:
            figures.errors += [f"node log: {line}" for line in server.log_errors()]
        return figures
    finally:
        workers.close()
        for server in servers:
            server.stop()
        if options.nodes > 1:
            assert options.postgres and options.redis
            asyncio.run(_database(options.postgres, False, database))
            client = Redis.from_url(options.redis)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


def _split(redis_url: str, prefix: str, lesson_id: int, servers: list[KelianServer]
           ) -> list[int]:
    client = Redis.from_url(redis_url)
    try:
        counts = {k.decode(): int(v) for k, v in
                  client.hgetall(f"{prefix}room:{lesson_id}:receivers").items()}  # type: ignore[union-attr]
    finally:
        client.close()
    return [next((n for node, n in counts.items() if node.endswith(f":{s.port}")), 0)
            for s in servers]


def _run(options: BroadcastOptions, servers: list[KelianServer], workers: Workers,
         lesson: SeededLesson, split: Callable[[], list[int]]) -> BroadcastFigures:
    teacher = PartySpec(lesson.lesson_id, lesson.host, True, 0, 0)
    receivers = [PartySpec(lesson.lesson_id, seat, False, 1, 1, publishes=False)
                 for seat in lesson.terminals]
    count = options.workers or max(1, math.ceil(len(receivers) / PER_WORKER))
    urls = [s.target.url for s in servers]
    workers.start(run_parties, "loadtest-broadcast-teacher", urls[0], [teacher],
                  str(options.cache_dir), options.clip_seconds, options.ready_timeout_s)
    for w in range(count):  # each worker's receivers reach their own node first
        workers.start(run_parties, f"loadtest-broadcast-{w}", urls[w % len(urls)],
                      receivers[w::count], str(options.cache_dir), options.clip_seconds,
                      options.ready_timeout_s)
    missing = [m for worker in workers.gather("ready", options.ready_timeout_s + 90)
               for m in worker]
    time.sleep(options.warmup_s)
    workers.broadcast(("mark",))
    before = [s.target.usage() for s in servers]
    t0 = time.monotonic()
    time.sleep(options.duration_s)
    after = [s.target.usage() for s in servers]
    t1 = time.monotonic()
    by_node = split()  # while everyone is still in
    loadavg = os.getloadavg()
    results: list[PartiesResult] = workers.ask(("report", t0, t1), "result", 120)
    parties = [p for r in results for p in r.parties]
    got = received(parties)
    cores = [round((a.cpu_s - b.cpu_s) / (t1 - t0), 3) if a and b else 0.0
             for a, b in zip(after, before, strict=True)]
    total = sum(cores)
    busiest = max(cores)
    return BroadcastFigures(
        scenario="broadcast", target="kelian", nodes=len(servers),
        receivers=len(receivers), receivers_by_node=by_node, node_cpu_cores=cores,
        server_cpu_cores=round(total, 3),
        busiest_node_cores=busiest,
        receivers_per_busiest_core=round(len(receivers) / busiest, 1) if busiest else None,
        packets_forwarded=got.forwarded,
        cpu_us_per_packet=round(total * (t1 - t0) * 1e6 / got.forwarded, 2)
        if got.forwarded else None,
        streams_expected=2 * len(receivers), streams_received=got.streams,
        loss_pct=round(sum(got.losses) / len(got.losses), 3) if got.losses else None,
        loss_pct_max=round(max(got.losses), 3) if got.losses else None,
        delay_p50_ms=ms(got.delays, 50, 2), delay_p99_ms=ms(got.delays, 99, 2),
        delay_matched_pct=got.matched_pct, keyframe_p99_ms=ms(got.keyframes, 99, 0),
        generator_cpu_cores=round(sum(r.cpu_s for r in results) / (t1 - t0), 3),
        window_s=round(t1 - t0, 2),
        loadavg=(round(loadavg[0], 2), round(loadavg[1], 2), round(loadavg[2], 2)),
        errors=([f"not flowing: {m}" for m in missing]
                + [e for r in results for e in r.errors] + got.notices)[:20])


__all__ = ["BroadcastFigures", "BroadcastOptions", "run_broadcast"]
