"""A recording survives its process: killed mid-lesson, the file plays up to about its last
second; out of disk space, the Recording fails alone and the Room goes on.

Each test runs a Room, a real publisher and a Recording in a child process
(tests/media/recording_child.py)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.media.recording_child import decode_times

ROOT = Path(__file__).resolve().parents[2]
KILL_AFTER_S = 4.0


async def _child(directory: Path, mode: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.media.recording_child", str(directory), mode, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=40)
    assert line == b"recording\n"
    return child


@pytest.mark.slow
async def test_a_recording_killed_mid_lesson_plays_up_to_its_last_seconds(tmp_path: Path) -> None:
    child = await _child(tmp_path, "kill")
    try:
        await asyncio.sleep(KILL_AFTER_S)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    times = decode_times(tmp_path / "lesson.001.mkv")
    camera, sound = times["camera"], times["audio"]
    assert camera[0] < 1.0 and camera[-1] >= KILL_AFTER_S - 1.5
    assert sound[-1] >= KILL_AFTER_S - 1.5
    assert len(camera) >= (KILL_AFTER_S - 1.5) * 10  # frames all along, not just a few


@pytest.mark.slow
async def test_a_full_disk_fails_the_recording_not_the_room(tmp_path: Path) -> None:
    child = await _child(tmp_path, "disk-full")
    assert child.stdout is not None
    output = (await asyncio.wait_for(child.stdout.read(), timeout=40)).decode()
    assert await child.wait() == 0
    lines = output.splitlines()
    assert lines[0].startswith("failed could not write") and "too large" in lines[0]
    assert lines[1] == "alive"  # the publisher's packets still reach the Room
    segment = tmp_path / "lesson.001.mkv"
    assert lines[2] == f"segments {segment}"
    times = decode_times(segment)  # what reached the disk plays
    assert len(times["camera"]) >= 10 and len(times["audio"]) >= 10
