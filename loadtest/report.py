"""report.json, report.md and the PNG plots of one load-test invocation."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .figures import RunFigures

COLUMNS = [
    ("target", "target"), ("subscribers", "N"), ("cpu_us_per_packet", "CPU µs/pkt"),
    ("cpu_ms_per_subscriber_s", "CPU ms/sub/s"), ("kbps_per_subscriber", "kbit/s/sub"),
    ("server_cpu_cores", "server cores"), ("subscribers_per_core", "subs/core"),
    ("loss_pct", "loss %"), ("delay_p50_ms", "delay p50 ms"), ("delay_p99_ms", "delay p99 ms"),
    ("join_p50_ms", "join p50 ms"), ("join_p99_ms", "join p99 ms"),
    ("rss_mb_per_subscriber", "MiB/sub"), ("keyframe_requests_at_publisher", "PLI@pub"),
    ("server_udp_drops", "srv UDP drops"),
    ("generator_cpu_cores", "generator cores"), ("loadavg", "loadavg 1/5/15"),
]


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "media", "loadtest"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return "/".join(_cell(v) for v in value)
    return str(value)


def table(runs: Sequence[RunFigures]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for run in runs:
        data = run.to_json()
        lines.append("| " + " | ".join(_cell(data[key]) for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def ratios(runs: Sequence[RunFigures], subject: str = "kelian",
           baselines: Sequence[str] | None = None) -> list[str]:
    """`subject`'s CPU (and memory) against each baseline's at the same N."""
    ours = {r.subscribers: r for r in runs if r.target == subject}
    name = subject.capitalize()
    lines = []
    for run in runs:
        mine = ours.get(run.subscribers)
        if run.target == subject or mine is None or (baselines and run.target not in baselines):
            continue
        if (mine.cpu_us_per_packet and run.cpu_us_per_packet and mine.cpu_ms_per_subscriber_s
                and run.cpu_ms_per_subscriber_s):
            line = (f"- N={run.subscribers}: {run.target} spends "
                    f"{run.cpu_us_per_packet / mine.cpu_us_per_packet:.1f}× {name}'s CPU "
                    f"per forwarded packet ({run.cpu_us_per_packet} vs "
                    f"{mine.cpu_us_per_packet} µs), "
                    f"{run.cpu_ms_per_subscriber_s / mine.cpu_ms_per_subscriber_s:.1f}× its "
                    f"CPU per subscriber")
            if mine.rss_mb_per_subscriber and run.rss_mb_per_subscriber:
                line += (f", {run.rss_mb_per_subscriber / mine.rss_mb_per_subscriber:.1f}× its "
                         f"memory per subscriber")
            lines.append(line)
    return lines


def comparisons(runs: Sequence[RunFigures]) -> list[str]:
    """Kelian against every baseline, then Janus against its tuned self and the naive floor."""
    return [*ratios(runs), *ratios(runs, "janus", ["janus-loops", "naive-aiortc"])]


def plot(runs: Sequence[RunFigures], out: Path) -> list[str]:
    """cpu.png and delay.png; [] when matplotlib is missing (pip install '.[loadtest]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    targets = sorted({r.target for r in runs})
    made = []
    figure, axes = plt.subplots(figsize=(6, 4))
    for target in targets:
        points = sorted((r.subscribers, r.cpu_us_per_packet) for r in runs
                        if r.target == target and r.cpu_us_per_packet is not None)
        if points:
            axes.plot(*zip(*points, strict=True), marker="o", label=target)
    axes.set_xlabel("subscribers")
    axes.set_ylabel("server CPU µs per forwarded packet")
    axes.set_yscale("log")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "cpu.png", dpi=100)
    plt.close(figure)
    made.append("cpu.png")
    figure, axes = plt.subplots(figsize=(6, 4))
    for target in targets:
        for key, style in (("delay_p50_ms", "-"), ("delay_p99_ms", "--")):
            points = sorted((r.subscribers, getattr(r, key)) for r in runs
                            if r.target == target and getattr(r, key) is not None)
            if points:
                axes.plot(*zip(*points, strict=True), style, marker="o",
                          label=f"{target} {key[6:9]}")
    axes.set_xlabel("subscribers")
    axes.set_ylabel("forwarding delay, ms")
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "delay.png", dpi=100)
    plt.close(figure)
    made.append("delay.png")
    return made


def write(out: Path, runs: Sequence[RunFigures], command: str, notes: Sequence[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    revision = commit()
    (out / "report.json").write_text(json.dumps(
        {"commit": revision, "command": command, "runs": [r.to_json() for r in runs]},
        indent=2, ensure_ascii=False) + "\n")
    images = plot(runs, out)
    parts = [
        "# Kelian load test", "",
        f"Commit `{revision}`; command: `{command}`", "",
        table(runs), "",
    ]
    comparison = comparisons(runs)
    if comparison:
        parts += ["## Against the baselines", "", *comparison, ""]
    parts += [f"![{name}]({name})" for name in images]
    parts += ["", "## How to read this", "",
              "- CPU µs/pkt: the server process's own CPU time (user + system, all threads) over "
              "the steady window, divided by the RTP packets all subscribers received in it.",
              "- CPU ms/sub/s: server CPU per subscriber per second of lesson, the fairer "
              "comparison with a re-encoding target, which sends fewer packets (kbit/s/sub).",
              "- loss %: per subscriber, from RTP sequence numbers within the window, mean over "
              "subscribers. Delay: publisher send → subscriber arrival, matched by the video "
              "payload's CRC-32 (impossible for re-encoding targets, hence –).",
              "- join: subscribe request → first packet of a VP8 keyframe. MiB/sub: server RSS "
              "growth from before the first subscriber to the window's end, per subscriber.",
              "- generator cores: CPU of the publisher and subscriber processes; when it and the "
              "server together approach the machine's cores, the figures are contended.",
              *notes, ""]
    (out / "report.md").write_text("\n".join(parts))
