"""A server killed with SIGKILL in the middle of a recorded lesson loses nothing it had written:
the restarted server finds the cut-off Recording, and the library gets its Resource."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import av
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import selectinload

from server.models import Recording, RecordingState, Resource, ResourceState
from tests.helpers import eventually
from tests.pages.demo_server import ROOT, free_port

from .media_client import MediaClient
from .wsclient import SignalClient

pytestmark = pytest.mark.slow


def _server(data_dir: Path, port: int, seed: bool) -> tuple[subprocess.Popen[str], dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KELIAN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.live.crash_server", str(data_dir), str(port),
         *(["--seed"] if seed else [])],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    world: dict = {}
    deadline = time.monotonic() + 60
    output = []
    for line in proc.stdout:
        output.append(line)
        if line.startswith("{"):
            world = json.loads(line)
        if line.strip() == "READY":
            return proc, world
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail("the server did not start:\n" + "".join(output))


async def test_a_server_killed_mid_recording_keeps_the_recording(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first, world = _server(tmp_path, port, seed=True)
    lesson_id = world["ids"]["master"]
    teacher = {"Authorization": f"Bearer {world['tokens']['teacher']}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/v1/lessons/{lesson_id}/start",
                                 headers=teacher) as resp:
                assert resp.status == 200
            ws = SignalClient(await http.ws_connect(f"{base}/ws"), "teacher")
            await ws.ok("auth", token=world["tokens"]["teacher"])
            await ws.ok("join", lesson_id=lesson_id)
            media = MediaClient(ws)
            assert (await media.publish(["camera", "microphone"]))["type"] == "ok"
            folder = tmp_path / "library" / "recordings" / f"lesson-{lesson_id}"
            await eventually(lambda: any(p.stat().st_size > 0 for p in folder.glob("*.mkv")),
                             timeout=30)
            await asyncio.sleep(5)
            first.send_signal(signal.SIGKILL)  # mid-lesson, mid-recording
            first.wait(timeout=10)
            await media.close()
            await ws.close()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    second, _ = _server(tmp_path, port, seed=False)
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'kelian.db'}")
    try:
        async def published() -> Resource | None:
            async with engine.connect() as conn:
                async with AsyncSession(conn) as db:
                    found = await db.scalar(
                        select(Resource).where(Resource.lesson_id == lesson_id)
                        .options(selectinload(Resource.renditions)))
                    if found is None or found.state is ResourceState.processing:
                        return None
                    recording = await db.get(Recording, found.recording_id)
                    assert recording is not None and recording.state is RecordingState.stopped
                    return found

        resource = await eventually(published, timeout=120)
        assert resource.state is ResourceState.ready, resource.error
        assert resource.duration_s is not None and resource.duration_s >= 4
        playlist = tmp_path / "library" / resource.renditions[0].playlist
        with av.open(str(playlist)) as played:
            last = max(frame.time for frame in played.decode(video=0))
        assert last >= 4  # what was written before the kill plays
    finally:
        await engine.dispose()
        second.terminate()
        second.wait(timeout=15)
