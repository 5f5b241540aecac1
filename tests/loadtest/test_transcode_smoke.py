"""The transcode benchmark end to end, small: a 2 s 1080p lesson through Kelian and ffmpeg.

It checks that the tool works and both make the same ladder, not how fast (`python -m loadtest
transcode --out DIR` reports that)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_transcode_benchmark_writes_a_sane_report(tmp_path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg command line (apt-get install ffmpeg)")
    out = tmp_path / "report"
    command = [sys.executable, "-m", "loadtest", "transcode", "--out", str(out), "--seconds", "2",
               "--cache", str(tmp_path / "cache")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads((out / "report.json").read_text())
    assert report["commit"] and report["scenario"] == "transcode"
    runs = {run["target"]: run for run in report["runs"]}
    assert set(runs) == {"kelian", "ffmpeg"}
    for run in runs.values():
        assert run["x_realtime"] > 0 and run["cpu_s"] > 0
        assert run["segments"] == {"1080p": 1, "360p": 1, "720p": 1}
    assert runs["kelian"]["segments"] == runs["ffmpeg"]["segments"]
    assert report["summary"]["ratio_throughput"] > 0
    assert "| kelian |" in (out / "report.md").read_text()
