"""The `signalling`, `classrooms` and `broadcast` load tests end to end, tiny: each starts real
`kelian serve` nodes, makes its lessons through the API and drives them over /ws.

They check that the tools work and measure something real (joins, texts, packets), not how
fast the server is (that is what their reports are for).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str, timeout: float = 150) -> tuple[dict[str, Any], str]:
    out = tmp_path / "report"
    command = [sys.executable, "-m", "loadtest", *args, "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["commit"]
    [run] = report["runs"]
    return run, (out / "report.md").read_text()


def test_signalling_with_20_participants(tmp_path: Path) -> None:
    run, markdown = _run(tmp_path, "signalling", "--participants", "20", "--duration", "3",
                         "--settle", "1", "--text-rate", "10")
    assert (run["scenario"], run["target"], run["participants"]) == ("signalling", "kelian", 20)
    assert run["errors"] == []
    assert run["joined"] == 21 and run["left"] == 21  # the teacher too
    assert 0 < run["join_p50_ms"] <= run["join_p99_ms"]
    assert run["texts_sent"] > 10 and run["delivered_pct"] == 100.0
    assert 0 < run["text_delay_p50_ms"] <= run["text_delay_p99_ms"]
    assert run["server_cpu_ms_per_join"] > 0 and run["server_rss_joined_mb"] > 0
    assert run["leave_p99_ms"] is not None
    assert "| 20 | famous_school | 21 |" in markdown


def test_classrooms_with_one_lesson(tmp_path: Path) -> None:
    run, markdown = _run(tmp_path, "classrooms", "--lessons", "1", "--duration", "3",
                         "--warmup", "1", "--clip-seconds", "2")
    assert (run["scenario"], run["target"], run["lessons"]) == ("classrooms", "kelian", 1)
    assert run["errors"] == []
    assert run["parties"] == 4 and run["streams_received"] == run["streams_expected"] == 9
    assert run["packets_forwarded"] > 1000 and run["cpu_us_per_packet"] > 0
    assert run["loss_pct"] < 5
    assert run["delay_matched_pct"] > 90  # payloads pass the relay unchanged
    assert 0 < run["delay_p50_ms"] <= run["delay_p99_ms"]
    assert run["join_p99_ms"] is not None and run["videos_without_keyframe"] == 0
    assert run["keyframe_p50_ms"] is not None
    assert "| 1 | 4 | 9 |" in markdown


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_broadcast_on_two_nodes_cascades(tmp_path: Path, db_url: str, redis_url: str) -> None:
    """(db_url only checks PostgreSQL answers; the run makes a database of its own there.)"""
    postgres = make_url(db_url).set(database="postgres").render_as_string(hide_password=False)
    run, markdown = _run(tmp_path, "broadcast", "--receivers", "4", "--nodes", "2",
                         "--duration", "3", "--warmup", "1", "--clip-seconds", "2",
                         "--postgres", postgres, "--redis", redis_url, timeout=200)
    assert (run["scenario"], run["nodes"], run["receivers"]) == ("broadcast", 2, 4)
    assert run["errors"] == []
    assert sorted(run["receivers_by_node"]) == [2, 2]  # two on the origin, two on the edge
    assert run["streams_received"] == run["streams_expected"] == 8
    assert run["packets_forwarded"] > 500 and all(c > 0 for c in run["node_cpu_cores"])
    assert run["loss_pct"] < 5 and run["delay_matched_pct"] > 90  # forwarded unchanged
    assert "| 4 | 2 |" in markdown
