"""The scenarios that go through the real server and its /ws signalling:

    python -m loadtest signalling --out DIR [--participants 100,500,2000] [--text-rate 5] …
    python -m loadtest classrooms --out DIR [--lessons 1,3,5] [--duration 15] …
    python -m loadtest broadcast --out DIR [--receivers 40,80] [--nodes 1,2] --postgres URL --redis URL

Each size runs against a fresh `kelian serve` (or the server at `--url`), one after another;
DIR/report.json and DIR/report.md are rewritten after every run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .clip import CLIP_SECONDS, default_cache_dir
from .tables import Columns, write_report

LIVE_SCENARIOS = ("signalling", "classrooms", "broadcast")

SIGNALLING_COLUMNS: Columns = [
    ("participants", "N"), ("kind", "kind"), ("joined", "joined"),
    ("join_p50_ms", "join p50 ms"), ("join_p99_ms", "join p99 ms"),
    ("join_phase_s", "join phase s"), ("server_cpu_ms_per_join", "CPU ms/join"),
    ("join_reply_kb", "room state KiB"), ("texts_sent", "texts"),
    ("delivered_pct", "delivered %"), ("text_delay_p50_ms", "text p50 ms"),
    ("text_delay_p99_ms", "text p99 ms"), ("server_cpu_us_per_delivery", "CPU µs/delivery"),
    ("server_cpu_ms_per_text", "CPU ms/text"), ("idle_cpu_cores", "idle cores"),
    ("rss_kb_per_participant", "KiB/participant"), ("leave_p99_ms", "leave p99 ms"),
    ("generator_cpu_cores", "generator cores"), ("loadavg", "loadavg 1/5/15"),
]
SIGNALLING_EXPLAIN = [
    "- Every participant is a classroom terminal (its own token, socket and seat) in one live "
    "lesson; the teacher joins too. A lesson links at most 200 classrooms through the API, so "
    "beyond 200 several terminals share a linked classroom.",
    "- join: socket open → `join` reply with the room state (TCP + WebSocket handshake, `auth`, "
    "`join`). Joins are started at `--join-rate` per second with at most `--in-flight` "
    "outstanding; join phase s is how long they all took. CPU ms/join: the server's CPU over "
    "the join phase per participant (each join is also announced to everyone present).",
    "- texts: marked texts at `--text-rate` per second in the whole Room (famous_school: "
    "`question.ask`, the only text a receiving classroom may send; master_teacher: `chat.send`). "
    "delivered %: deliveries ÷ (texts × other participants present). Delay: send → arrival at "
    "another participant (CLOCK_MONOTONIC, shared by all processes). CPU µs/delivery and "
    "ms/text: the server's CPU over the text window (idle CPU included) per delivery and per "
    "text; idle cores: the server with everyone present and nobody talking.",
    "- KiB/participant: server RSS growth from before the first join to the idle window, per "
    "participant. leave: `leave` sent → the server's close (1000).",
    "- The server's CPU and RSS come from /proc of its pid (10 ms CPU resolution); generator "
    "cores is the crowd workers' CPU over the text window; loadavg is the machine's at the "
    "window's end (other processes count too).",
]

CLASSROOMS_COLUMNS: Columns = [
    ("lessons", "K"), ("parties", "parties"), ("streams_received", "streams"),
    ("cpu_us_per_packet", "CPU µs/pkt"), ("cpu_ms_per_lesson_s", "CPU ms/lesson/s"),
    ("server_cpu_cores", "server cores"), ("loss_pct", "loss %"),
    ("delay_p50_ms", "delay p50 ms"), ("delay_p99_ms", "delay p99 ms"),
    ("join_p99_ms", "join p99 ms"), ("keyframe_p50_ms", "1st keyframe p50 ms"),
    ("keyframe_p99_ms", "1st keyframe p99 ms"), ("rss_mb_per_lesson", "MiB/lesson"),
    ("server_udp_drops", "server UDP drops"),
    ("generator_cpu_cores", "generator cores"), ("loadavg", "loadavg 1/5/15"),
]
CLASSROOMS_EXPLAIN = [
    "- K dedicated lessons, each a hub teacher (API token) and 3 teaching-point terminals; "
    "every party publishes the pre-encoded clip (720p30 VP8 ~1.5 Mbit/s + Opus, never encoded) "
    "with `publish` and answers the relay's `event.offer`s. By the rules the hub receives each "
    "point's camera and each point the teacher's camera and microphone: 9 streams per lesson.",
    "- CPU µs/pkt: the server's CPU (from /proc) over the window ÷ RTP packets all parties "
    "received in it (the relay also decrypts the points' microphones, which nobody receives "
    "without the floor: packets_published in report.json). CPU ms/lesson/s: per lesson per "
    "second.",
    "- loss %: per stream, from RTP sequence numbers in the window, mean over streams. Delay: "
    "publisher send → arrival, video packets matched by the publisher and the payload's "
    "CRC-32. Receivers take RTP at the DTLS transport: no jitter buffer, decoder or NACK.",
    "- 1st keyframe: from the later of the receiver's join and the publisher's `publish` to "
    "the first VP8 keyframe packet of that video. join: socket open → room state.",
    "- server UDP drops: datagrams the kernel dropped in the window on the server's sockets "
    "(a full receive buffer, /proc/net/udp); the relay NACKs them upstream, so they show as "
    "delay rather than loss. The parties' own sockets have 4 MiB buffers "
    "(generator_udp_drops in report.json).",
    "- MiB/lesson: server RSS growth from before the first join to the window's end, per "
    "lesson. generator cores: the party workers' CPU over the window.",
]


BROADCAST_COLUMNS: Columns = [
    ("receivers", "N"), ("nodes", "nodes"), ("receivers_by_node", "receivers by node"),
    ("node_cpu_cores", "node cores"), ("receivers_per_busiest_core", "receivers per core"),
    ("cpu_us_per_packet", "CPU µs/pkt"), ("loss_pct", "loss %"),
    ("delay_p50_ms", "delay p50 ms"), ("delay_p99_ms", "delay p99 ms"),
    ("keyframe_p99_ms", "1st keyframe p99 ms"), ("generator_cpu_cores", "generator cores"),
    ("loadavg", "loadavg 1/5/15"),
]
BROADCAST_EXPLAIN = [
    "- One famous_school lesson: the teacher publishes the pre-encoded clip (720p30 VP8 "
    "~1.5 Mbit/s + Opus), N receiving classrooms receive its camera and microphone and send "
    "nothing. With several nodes (one `kelian serve` each, sharing PostgreSQL and Redis) each "
    "node serves up to ceil(N / nodes) receivers (`room_max_receivers`); the others pull the "
    "teacher's media from the lesson's origin once (the cascade). Receivers reach the nodes in "
    "turn; the routing decides who serves them (receivers by node, as the nodes counted them).",
    "- node cores: each node's CPU over the window (from /proc). receivers per core: N ÷ the "
    "busiest node's cores, i.e. how many receivers one node's core carries at this split — "
    "what several nodes multiply when the load generator does not hold the other cores. CPU "
    "µs/pkt: all nodes' CPU ÷ packets the receivers got.",
    "- loss, delay and 1st keyframe as in `classrooms` (delay matched by payload CRC-32; "
    "receivers take RTP at the DTLS transport: no jitter buffer, decoder or NACK). generator "
    "cores: the party workers' CPU (the receivers cost about as much as the relay per packet, "
    "so on a 2-core machine they, not the nodes, set the ceiling).",
]


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    sub = parser.add_subparsers(dest="scenario", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, required=True)
    common.add_argument("--duration", type=float, default=15.0, help="measured window, seconds")
    common.add_argument("--workers", type=int, default=None)
    common.add_argument("--url", help="a running Kelian (http://127.0.0.1:PORT) instead of "
                                      "starting one; needs --admin-token")
    common.add_argument("--admin-token", help="an admin's API token (ka_…) for --url")
    common.add_argument("--server-pid", type=int,
                        help="the --url server's pid, for its CPU and memory from /proc")
    common.add_argument("--record", action="store_true",
                        help="the lessons record (default: not, to measure signalling and "
                             "relay alone)")

    signalling = sub.add_parser("signalling", parents=[common],
                                help="thousands of WebSocket participants in one lesson")
    signalling.add_argument("--participants", type=_counts, default=[100, 500, 2000])
    signalling.add_argument("--kind", choices=["famous_school", "master_teacher"],
                            default="famous_school")
    signalling.add_argument("--text-rate", "--chat-rate", type=float, default=5.0,
                            help="texts per second in the whole Room")
    signalling.add_argument("--join-rate", type=float, default=50.0,
                            help="joins (and leaves) started per second")
    signalling.add_argument("--in-flight", type=int, default=64, help="joins at once, at most")
    signalling.add_argument("--settle", type=float, default=3.0,
                            help="seconds to settle after the joins, and of the idle window")

    classrooms = sub.add_parser("classrooms", parents=[common],
                                help="K dedicated lessons of a hub and 3 teaching points")
    classrooms.add_argument("--lessons", type=_counts, default=[1, 3, 5])
    classrooms.add_argument("--warmup", type=float, default=4.0)
    classrooms.add_argument("--cache", type=Path, default=default_cache_dir())
    classrooms.add_argument("--clip-seconds", type=int, default=CLIP_SECONDS)
    broadcast = sub.add_parser("broadcast", parents=[common],
                               help="one famous_school lesson to N receivers, on 1 or more nodes")
    broadcast.add_argument("--receivers", type=_counts, default=[40, 80])
    broadcast.add_argument("--nodes", type=_counts, default=[1, 2])
    broadcast.add_argument("--postgres", help="PostgreSQL maintenance URL for several nodes "
                                              "(postgresql://postgres@127.0.0.1:5432/postgres)")
    broadcast.add_argument("--redis", help="Redis URL for several nodes (redis://127.0.0.1:6379/0)")
    broadcast.add_argument("--warmup", type=float, default=4.0)
    broadcast.add_argument("--cache", type=Path, default=default_cache_dir())
    broadcast.add_argument("--clip-seconds", type=int, default=CLIP_SECONDS)
    return parser


def _broadcast_runs(args: argparse.Namespace) -> list[tuple[str, Callable[[], Any]]]:
    from .broadcast import BroadcastOptions, run_broadcast

    return [(f"{n} receivers on {k} node(s)", lambda n=n, k=k: run_broadcast(BroadcastOptions(
        receivers=n, nodes=k, duration_s=args.duration, warmup_s=args.warmup,
        cache_dir=args.cache, clip_seconds=args.clip_seconds, workers=args.workers,
        postgres=args.postgres, redis=args.redis)))
        for n in args.receivers for k in args.nodes]


def _signalling_runs(args: argparse.Namespace) -> list[tuple[str, Callable[[], Any]]]:
    from .signalling import SignallingOptions, run_signalling

    return [(f"{n} participants", lambda n=n: run_signalling(SignallingOptions(
        participants=n, kind=args.kind, text_rate=args.text_rate, duration_s=args.duration,
        join_rate=args.join_rate, in_flight=args.in_flight, settle_s=args.settle,
        workers=args.workers, url=args.url, admin_token=args.admin_token,
        server_pid=args.server_pid, record=args.record))) for n in args.participants]


def _classrooms_runs(args: argparse.Namespace) -> list[tuple[str, Callable[[], Any]]]:
    from .classrooms import ClassroomsOptions, run_classrooms

    return [(f"{k} lessons", lambda k=k: run_classrooms(ClassroomsOptions(
        lessons=k, duration_s=args.duration, warmup_s=args.warmup, cache_dir=args.cache,
        clip_seconds=args.clip_seconds, workers=args.workers, url=args.url,
        admin_token=args.admin_token, server_pid=args.server_pid, record=args.record)))
        for k in args.lessons]


def live_main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.url and not args.admin_token:
        print("--url needs --admin-token", file=sys.stderr)
        return 2
    command = "python -m loadtest " + " ".join(shlex.quote(a) for a in argv)
    if args.scenario == "signalling":
        runs, columns, explain = _signalling_runs(args), SIGNALLING_COLUMNS, SIGNALLING_EXPLAIN
    elif args.scenario == "broadcast":
        if args.url:
            print("broadcast starts its own nodes (no --url)", file=sys.stderr)
            return 2
        runs, columns, explain = _broadcast_runs(args), BROADCAST_COLUMNS, BROADCAST_EXPLAIN
    else:
        runs, columns, explain = _classrooms_runs(args), CLASSROOMS_COLUMNS, CLASSROOMS_EXPLAIN
    done: list[dict[str, object]] = []
    notes: list[str] = []
    for label, run in runs:
        print(f"{args.scenario}: {label} …", file=sys.stderr, flush=True)
        try:
            figures = run().to_json()
        except Exception as exc:  # one size failing keeps the others' figures
            notes.append(f"- {label} failed: {exc!r}"[:1000])
            print(f"  failed: {exc!r}", file=sys.stderr, flush=True)
        else:
            done.append(figures)
            print("  " + ", ".join(f"{title} {figures.get(key)}" for key, title in columns[1:8]),
                  file=sys.stderr, flush=True)
        write_report(args.out, done, columns, command, explain, notes)
    return 0 if done and len(done) == len(runs) else 1
