"""python -m loadtest SCENARIO --out DIR …"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .clip import CLIP_SECONDS, default_cache_dir, load_clip
from .fanout import FanoutOptions, RunError, run_fanout
from .figures import RunFigures
from .janus import report_notes as janus_notes
from .live_cli import LIVE_SCENARIOS, live_main
from .report import comparisons, table, write

TARGETS = ("kelian", "naive-aiortc", "janus", "janus-loops")


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    rest = sys.argv[1:] if argv is None else argv
    if rest[:1] == ["transcode"]:  # its own options: loadtest/transcode.py
        from .transcode import main as transcode

        return transcode(rest[1:])
    if rest[:1] and rest[0] in LIVE_SCENARIOS:  # through the real server: loadtest/live_cli.py
        return live_main(rest)
    parser = argparse.ArgumentParser(prog="python -m loadtest")
    parser.add_argument("scenario", choices=["fanout", "transcode", *LIVE_SCENARIOS])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--subscribers", type=_counts, default=[1, 10, 25, 50])
    parser.add_argument("--duration", type=float, default=15.0, help="steady window, seconds")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="repeat for several; default kelian")
    parser.add_argument("--max-subscribers", action="append", default=[], metavar="TARGET=N",
                        help="skip larger N for that target (e.g. naive-aiortc=10); repeatable")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--profile", action="store_true",
                        help="record the server with py-spy into OUT/profile-TARGET-N.txt")
    parser.add_argument("--clip-seconds", type=int, default=CLIP_SECONDS,
                        help="length of the looped clip (shorter generates faster)")
    args = parser.parse_args(argv)
    command = "python -m loadtest " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))

    load_clip(args.cache, args.clip_seconds)  # generate it once, outside the timed runs
    limits = {target: int(n) for target, _, n in
              (item.partition("=") for item in args.max_subscribers)}
    runs: list[RunFigures] = []
    notes: list[str] = []
    if args.profile and any(t.startswith("janus") for t in args.target or []):
        notes.append("- janus: --profile records Python servers with py-spy; Janus was not profiled.")
    for target in args.target or ["kelian"]:
        for n in args.subscribers:
            if n > limits.get(target, n):
                notes.append(f"- {target} at N={n}: skipped (--max-subscribers)")
                continue
            print(f"fanout: {target} with {n} subscribers …", file=sys.stderr, flush=True)
            try:
                run = run_fanout(FanoutOptions(target, n, args.duration, args.warmup, args.cache,
                                               args.workers, args.clip_seconds,
                                               args.out if args.profile else None))
            except RunError as exc:
                notes.append(f"- {target} at N={n} failed: {exc}")
                print(f"  failed: {exc}", file=sys.stderr)
                continue
            runs.append(run)
            print(f"  {run.cpu_us_per_packet} µs/pkt, loss {run.loss_pct} %, "
                  f"delay p99 {run.delay_p99_ms} ms, join p99 {run.join_p99_ms} ms",
                  file=sys.stderr, flush=True)
            write(args.out, runs, command, notes)  # keep what was measured if later runs die
    if any(run.target.startswith("janus") for run in runs):
        notes.extend(janus_notes())
    write(args.out, runs, command, notes)
    print(table(runs))
    for line in comparisons(runs):
        print(line)
    return 0 if runs else 1


if __name__ == "__main__":
    sys.exit(main())
