"""The fanout load test end to end against Kelian's relay, small: real peers, a few seconds.

It checks that the tool works and packets arrive, not how fast the relay is (that is what
`make bench` reports).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_fanout_against_kelian_writes_a_sane_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    command = [sys.executable, "-m", "loadtest", "fanout", "--out", str(out),
               "--subscribers", "2", "--duration", "3", "--warmup", "2",
               "--target", "kelian", "--clip-seconds", "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((out / "report.json").read_text())
    assert report["commit"]
    [run] = report["runs"]
    for key in ("scenario", "target", "subscribers", "cpu_us_per_packet", "loss_pct",
                "delay_p50_ms", "delay_p99_ms", "join_p99_ms", "rss_mb_per_subscriber",
                "loadavg"):
        assert key in run, key
    assert (run["scenario"], run["target"], run["subscribers"]) == ("fanout", "kelian", 2)
    assert run["subscribers_measured"] == 2 and run["errors"] == []
    assert run["packets_forwarded"] > 100
    assert run["cpu_us_per_packet"] > 0
    assert run["loss_pct"] < 5
    assert run["delay_matched_pct"] > 90  # payloads arrive unchanged, so they match
    assert 0 < run["delay_p50_ms"] <= run["delay_p99_ms"]
    assert run["join_p99_ms"] is not None and run["joins_without_keyframe"] == 0
    assert "| kelian | 2 |" in (out / "report.md").read_text()
