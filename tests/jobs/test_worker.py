"""Worker processes: `kelian worker` stops cleanly on SIGTERM, and a killed worker's job is
finished by another worker once its lease runs out."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.jobs import Job, JobErrorCode, JobQueue, JobRunner, JobState, Progress
from tests.helpers import eventually
from tests.test_cli import REPO_ROOT, cli_env, read_until

pytestmark = pytest.mark.slow


async def start(tmp_path: Path, db_url: str, *args: str, **env: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=cli_env(tmp_path, db_url, **env), cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    await read_until(proc.stdout, "is running jobs", timeout=60)
    return proc


async def end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def job_where(queue: JobQueue, job_id: int, **expected: Any) -> Job | None:
    job = await queue.get(job_id)
    if job is not None and all(getattr(job, k) == v for k, v in expected.items()):
        return job
    return None


async def test_kelian_worker_stops_on_sigterm(tmp_path: Path, db_url: str) -> None:
    proc = await start(tmp_path, db_url, "-m", "server", "worker", "--concurrency", "2")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        out = await read_until(proc.stdout, "Kelian worker stopped", timeout=20)
        assert await asyncio.wait_for(proc.wait(), 20) == 0, out
        assert "Traceback" not in out
    finally:
        await end(proc)


async def test_sigterm_hands_the_running_job_back(tmp_path: Path, db_url: str,
                                                  queue: JobQueue) -> None:
    job = await queue.enqueue("slow")
    proc = await start(tmp_path, db_url, "-m", "tests.jobs.slow_worker", "leaving")
    try:
        await eventually(lambda: job_where(queue, job.id, worker="leaving", state=JobState.running),
                         timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        await end(proc)
    assert await job_where(queue, job.id, state=JobState.queued, attempts=0, worker=None)


async def test_a_killed_workers_job_is_finished_by_another(
        tmp_path: Path, db_url: str, sessions: async_sessionmaker[AsyncSession],
        queue: JobQueue) -> None:
    job = await queue.enqueue("slow", {"recording": 3})
    proc = await start(tmp_path, db_url, "-m", "tests.jobs.slow_worker", "doomed")
    try:
        # Mid-job: progress has reached the database.
        async def progressing() -> bool:
            found = await queue.get(job.id)
            return found is not None and found.worker == "doomed" and found.progress > 0

        await eventually(progressing, timeout=20)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        await end(proc)

    finished: list[dict[str, Any]] = []

    async def quick(payload: dict[str, Any], report: Progress) -> None:
        finished.append(payload)

    rescuer = JobRunner(sessions, {"slow": quick}, "rescuer", poll_s=0.2)
    await rescuer.start()
    try:
        done = await eventually(lambda: job_where(queue, job.id, state=JobState.done), timeout=20)
    finally:
        await rescuer.stop()
    assert finished == [{"recording": 3}]
    assert (done.attempts, done.worker, done.error_code) == (2, "rescuer", JobErrorCode.lease_expired)
    assert "doomed" in (done.error or "")
