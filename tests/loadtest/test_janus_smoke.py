"""The fanout load test against the Janus baseline, small: checks the tool, not Janus's speed.

Skipped where Janus is not installed (`apt-get install janus`; CI does not install it) or a
private network namespace cannot be made (it needs root and `ip`, see loadtest/netns.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.janus import janus_binary
from loadtest.netns import available

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(janus_binary() is None, reason="janus is not installed"),
    pytest.mark.skipif(available() is not None, reason=str(available())),
]


def test_fanout_against_janus_writes_a_sane_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    command = [sys.executable, "-m", "loadtest", "fanout", "--out", str(out),
               "--subscribers", "2", "--duration", "3", "--warmup", "2",
               "--target", "janus", "--clip-seconds", "2"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    [run] = json.loads((out / "report.json").read_text())["runs"]
    assert (run["scenario"], run["target"], run["subscribers"]) == ("fanout", "janus", 2)
    assert run["subscribers_measured"] == 2 and run["errors"] == []
    assert run["packets_forwarded"] > 100
    assert run["cpu_us_per_packet"] > 0 and run["rss_mb_per_subscriber"] is not None
    assert run["loss_pct"] < 5
    assert run["delay_matched_pct"] > 90  # plain RTP in, the same payloads out
    assert 0 < run["delay_p50_ms"] <= run["delay_p99_ms"]
    assert run["join_p99_ms"] is not None and run["joins_without_keyframe"] == 0
    assert run["keyframe_requests_at_publisher"] >= 1  # Janus's PLI reached the RTP source
    assert "| janus | 2 |" in (out / "report.md").read_text()
