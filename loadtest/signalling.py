"""The `signalling` scenario: N WebSocket participants join a live lesson, text, and leave.

Timeline of one run: start `kelian serve` on a fresh embedded database (or use `--url`), make a
live lesson with N terminals through the API, note the server's CPU and memory, then:

1. join: the teacher and N terminals open /ws, `auth`, `join`, paced at `join_rate` per second
   over the worker processes (open loop, a bounded number in flight);
2. idle: `settle_s` to let the joins' events drain, then `settle_s` measured with everyone in
   the Room and nobody talking (heartbeats only);
3. text: for `duration_s`, random terminals send marked texts at `text_rate` per second in the
   whole Room (famous_school: `question.ask`, the classrooms' only text; master_teacher:
   `chat.send`); every other participant receives each one;
4. leave: everyone sends `leave` at the join rate; the server closes each socket with 1000.

The server is measured from /proc of its pid between the phases.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass

from .crowd import CrowdResult, PhaseResult, run_crowd
from .kelian import KelianServer, Target, Usage
from .phases import RunError, Workers, ms
from .seed import end_lesson, seed_crowd

PARTICIPANTS_PER_WORKER = 250
MAX_WORKERS = 4
GRACE_S = 3.0  # after the last text, for its deliveries


@dataclass(frozen=True)
class SignallingOptions:
    participants: int
    kind: str = "famous_school"
    text_rate: float = 5.0  # texts per second in the whole Room
    duration_s: float = 15.0
    join_rate: float = 50.0  # joins (and leaves) per second, over all workers
    in_flight: int = 64  # joins at once, over all workers
    settle_s: float = 3.0
    workers: int | None = None
    url: str | None = None  # a running server instead of our own
    admin_token: str | None = None
    server_pid: int | None = None
    record: bool = False  # the lesson records (off: measure signalling alone)


@dataclass
class SignallingFigures:
    scenario: str
    target: str
    kind: str
    record: bool
    participants: int  # terminals; the teacher joins too
    workers: int
    joined: int
    join_p50_ms: float | None  # socket open -> room state received (auth + join)
    join_p99_ms: float | None
    join_max_ms: float | None
    join_phase_s: float
    join_reply_kb: float  # the largest room state sent (the last joiners')
    server_cpu_ms_per_join: float | None
    idle_cpu_cores: float | None  # everyone in the Room, nobody talking
    text_rate: float
    texts_sent: int
    deliveries: int
    delivered_pct: float | None  # of (texts sent x other participants present)
    text_delay_p50_ms: float | None  # send -> received by another participant
    text_delay_p99_ms: float | None
    server_cpu_us_per_delivery: float | None  # over the text window, idle CPU included
    server_cpu_ms_per_text: float | None
    text_cpu_cores: float | None
    left: int
    leave_p50_ms: float | None
    leave_p99_ms: float | None
    server_rss_base_mb: float | None  # before the first join
    server_rss_joined_mb: float | None
    rss_kb_per_participant: float | None
    server_rss_after_leave_mb: float | None
    messages_received: int  # every server message the participants read
    generator_cpu_cores: float  # the crowd workers over the text window
    loadavg: tuple[float, float, float]
    errors: list[str]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _mb(usage: Usage | None) -> float | None:
    return None if usage is None else round(usage.rss_bytes / 2**20, 1)


def _cpu(before: Usage | None, after: Usage | None) -> float | None:
    return None if before is None or after is None else after.cpu_s - before.cpu_s


def _per(value: float | None, count: float, scale: float, digits: int = 2) -> float | None:
    return None if value is None or not count else round(value * scale / count, digits)


def run_signalling(options: SignallingOptions) -> SignallingFigures:
    own = None if options.url else KelianServer()
    target = own.target if own else Target(options.url or "", admin_token=options.admin_token,
                                           pid=options.server_pid)
    workers = Workers()
    try:
        return _run(options, target, workers, own)
    finally:
        workers.close()
        if own is not None:
            own.stop()


def _run(options: SignallingOptions, target: Target, workers: Workers,
         own: KelianServer | None) -> SignallingFigures:
    n = options.participants
    tag = f"lt{secrets.token_hex(3)}"
    lesson = asyncio.run(seed_crowd(target, n, options.kind, tag, options.record))
    seats = [lesson.host, *lesson.terminals]
    may_text = [False] + [True] * n
    count = options.workers or min(MAX_WORKERS, max(1, math.ceil(len(seats) /
                                                                  PARTICIPANTS_PER_WORKER)))
    for w in range(count):
        workers.start(run_crowd, f"loadtest-crowd-{w}", target.url, lesson.lesson_id,
                      seats[w::count], may_text[w::count], options.kind)
    time.sleep(1.0)  # the workers import aiohttp meanwhile; joins start together
    base = target.usage()

    rate, in_flight = options.join_rate / count, max(1, options.in_flight // count)
    t_join = time.monotonic()
    joined: list[PhaseResult] = workers.ask(("join", rate, in_flight), "joined",
                                            len(seats) / options.join_rate + 180)
    join_phase = time.monotonic() - t_join
    after_join = target.usage()
    present = sum(p.ok for p in joined)

    time.sleep(options.settle_s)
    idle_from = target.usage()
    time.sleep(options.settle_s)
    idle_to = target.usage()

    t_text = time.monotonic()
    until = t_text + options.duration_s
    workers.broadcast(("chat", options.text_rate / count, until, GRACE_S))
    time.sleep(max(0.0, until - time.monotonic()))
    text_end = target.usage()
    window = time.monotonic() - t_text
    loadavg = os.getloadavg()
    chatted: list[PhaseResult] = workers.gather("chatted", GRACE_S + 60)

    left: list[PhaseResult] = workers.ask(("leave", rate, in_flight), "left",
                                          present / options.join_rate + 180)
    time.sleep(1.0)
    after_leave = target.usage()
    results: list[CrowdResult] = workers.ask(("result",), "result", 60)
    asyncio.run(end_lesson(target, lesson.host, lesson.lesson_id))

    errors = [e for r in results for e in r.errors]
    if own is not None:
        errors += [f"server log: {line}" for line in own.log_errors()]
    joins = [v for r in results for v in r.join_ms]
    delays = [v for r in results for v in r.text_delay_ms]
    leaves = [v for r in results for v in r.leave_ms]
    sent = sum(r.texts_sent for r in results)
    deliveries = sum(r.deliveries for r in results)
    text_cpu = _cpu(idle_to, text_end)
    idle_cpu = _cpu(idle_from, idle_to)
    return SignallingFigures(
        scenario="signalling", target="kelian", kind=options.kind, record=options.record,
        participants=n,
        workers=count, joined=present,
        join_p50_ms=ms(joins, 50), join_p99_ms=ms(joins, 99), join_max_ms=ms(joins, 100),
        join_phase_s=round(join_phase, 1),
        join_reply_kb=round(max((r.join_reply_bytes for r in results), default=0) / 1024, 1),
        server_cpu_ms_per_join=_per(_cpu(base, after_join), present, 1e3),
        idle_cpu_cores=_per(idle_cpu, options.settle_s, 1, 3),
        text_rate=options.text_rate, texts_sent=sent, deliveries=deliveries,
        delivered_pct=_per(deliveries, sent * max(1, present - 1), 100, 2),
        text_delay_p50_ms=ms(delays, 50), text_delay_p99_ms=ms(delays, 99),
        server_cpu_us_per_delivery=_per(text_cpu, deliveries, 1e6, 1),
        server_cpu_ms_per_text=_per(text_cpu, sent, 1e3),
        text_cpu_cores=_per(text_cpu, window, 1, 3),
        left=sum(p.ok for p in left),
        leave_p50_ms=ms(leaves, 50), leave_p99_ms=ms(leaves, 99),
        server_rss_base_mb=_mb(base), server_rss_joined_mb=_mb(idle_to),
        rss_kb_per_participant=(None if base is None or idle_to is None else
                                round((idle_to.rss_bytes - base.rss_bytes) / 1024 / max(1, present), 1)),
        server_rss_after_leave_mb=_mb(after_leave),
        messages_received=sum(r.messages for r in results),
        generator_cpu_cores=round(sum(c.cpu_s for c in chatted) / (window + GRACE_S), 3),
        loadavg=(round(loadavg[0], 2), round(loadavg[1], 2), round(loadavg[2], 2)),
        errors=errors[:20])


__all__ = ["RunError", "SignallingFigures", "SignallingOptions", "run_signalling"]
