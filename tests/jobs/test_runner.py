"""JobRunner on SQLite and PostgreSQL: handlers run, report, fail, get cancelled and stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.jobs import (
    Backoff,
    Handler,
    Job,
    JobError,
    JobErrorCode,
    JobQueue,
    JobRunner,
    JobState,
    JobStopped,
    Progress,
)
from server.keys import JOBS
from tests.helpers import eventually

from .conftest import sqlite_only


@asynccontextmanager
async def running(sessions: async_sessionmaker[AsyncSession], handlers: dict[str, Handler],
                  **options: Any) -> AsyncIterator[JobRunner]:
    options = {"poll_s": 0.1, "heartbeat_s": 0.05, "backoff": Backoff(first_s=60)} | options
    runner = JobRunner(sessions, handlers, "test-runner", **options)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop(timeout=5)


def in_state(queue: JobQueue, job_id: int, state: JobState) -> Callable[[], Any]:
    async def check() -> Job | None:
        job = await queue.get(job_id)
        return job if job is not None and job.state == state else None

    check.__name__ = f"job {job_id} is {state}"
    return check


async def test_runs_a_handler_and_stores_its_progress(
        sessions: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
    go_on = asyncio.Event()
    seen: list[dict[str, Any]] = []

    async def transcode(payload: dict[str, Any], report: Progress) -> None:
        seen.append(payload)
        report(0.5, speed=3.7)
        await go_on.wait()

    job = await queue.enqueue("transcode", {"recording": 1})
    async with running(sessions, {"transcode": transcode}):
        async def half_done() -> bool:
            stored = await queue.get(job.id)
            return stored is not None and (stored.progress, stored.speed) == (0.5, 3.7)

        await eventually(half_done)
        go_on.set()
        done = await eventually(in_state(queue, job.id, JobState.done))
    assert seen == [{"recording": 1}]
    assert (done.progress, done.attempts, done.worker) == (1.0, 1, "test-runner")


@sqlite_only  # runner logic; the queue's SQL is tested on both backends
async def test_handler_failures(sessions: async_sessionmaker[AsyncSession],
                                queue: JobQueue) -> None:
    async def bad_input(payload: dict[str, Any], report: Progress) -> None:
        raise JobError("bad_input", "the recording has no video track")

    async def offline(payload: dict[str, Any], report: Progress) -> None:
        raise JobError("share_offline", "the library share is not mounted", retry=True)

    async def buggy(payload: dict[str, Any], report: Progress) -> None:
        raise ZeroDivisionError("division by zero")

    permanent = await queue.enqueue("bad_input")
    retried = await queue.enqueue("offline")
    crashed = await queue.enqueue("buggy", max_attempts=1)
    handlers: dict[str, Handler] = {"bad_input": bad_input, "offline": offline, "buggy": buggy}
    async with running(sessions, handlers, concurrency=3):
        failed = await eventually(in_state(queue, permanent.id, JobState.failed))
        assert (failed.error_code, failed.error) == ("bad_input", "the recording has no video track")
        assert failed.attempts == 1  # not retried

        async def waiting_to_retry() -> Job | None:
            job = await queue.get(retried.id)
            return job if job is not None and job.error_code == "share_offline" else None

        again = await eventually(waiting_to_retry)
        assert again.state == JobState.queued and again.attempts == 1  # back-off is 60 s

        broken = await eventually(in_state(queue, crashed.id, JobState.failed))
        assert broken.error_code == JobErrorCode.crashed
        assert broken.error == "ZeroDivisionError: division by zero"


async def test_cancelling_a_running_job_cancels_its_handler(
        sessions: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(payload: dict[str, Any], report: Progress) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job = await queue.enqueue("slow")
    async with running(sessions, {"slow": slow}) as runner:
        await asyncio.wait_for(started.wait(), 10)
        assert await queue.cancel(job.id)
        await asyncio.wait_for(cancelled.wait(), 5)
        await eventually(lambda: not runner.running_jobs)
    assert (await eventually(in_state(queue, job.id, JobState.cancelled))).finished_at is not None


async def test_stopping_cancels_the_handler_and_gives_the_job_back(
        sessions: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
    started, cleaned_up = asyncio.Event(), asyncio.Event()

    async def slow(payload: dict[str, Any], report: Progress) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            cleaned_up.set()

    job = await queue.enqueue("slow")
    async with running(sessions, {"slow": slow}):
        await asyncio.wait_for(started.wait(), 10)
    assert cleaned_up.is_set()  # stop() returned after the handler finished unwinding
    back = await eventually(in_state(queue, job.id, JobState.queued))
    assert (back.attempts, back.worker) == (0, None)  # not counted against the job


@sqlite_only  # runner logic; the queue's SQL is tested on both backends
async def test_a_thread_stops_at_its_next_report(
        sessions: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
    """Work in a thread cannot be cancelled; `report` raising JobStopped ends it."""
    started, ended = threading.Event(), threading.Event()

    def work(report: Progress) -> None:
        started.set()
        try:
            for n in range(10_000):
                report(n / 10_000)
                time.sleep(0.01)
        except JobStopped:
            ended.set()
            raise

    async def threaded(payload: dict[str, Any], report: Progress) -> None:
        await asyncio.to_thread(work, report)

    await queue.enqueue("threaded")
    async with running(sessions, {"threaded": threaded}):
        await asyncio.to_thread(started.wait, 10)
    assert await asyncio.to_thread(ended.wait, 5)


@sqlite_only  # runner logic; the queue's SQL is tested on both backends
async def test_concurrency_runs_jobs_side_by_side(
        sessions: async_sessionmaker[AsyncSession], queue: JobQueue) -> None:
    inside = 0
    most = 0
    release = asyncio.Event()

    async def work(payload: dict[str, Any], report: Progress) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await release.wait()
        inside -= 1

    jobs = [await queue.enqueue("work") for _ in range(3)]
    async with running(sessions, {"work": work}, concurrency=2) as runner:
        await eventually(lambda: len(runner.running_jobs) == 2)
        await asyncio.sleep(0.3)  # a third slot would have been filled by now
        assert most == 2
        release.set()
        for job in jobs:
            await eventually(in_state(queue, job.id, JobState.done))


@sqlite_only  # the app's wiring
async def test_serve_runs_jobs_in_process(aiohttp_client: Any, settings: Settings) -> None:
    """create_app starts a runner on startup and stops it on cleanup, handing the job back."""
    from server.app import create_app

    started = asyncio.Event()

    async def echo(payload: dict[str, Any], report: Progress) -> None:
        if payload.get("block"):
            started.set()
            await asyncio.sleep(60)

    client = await aiohttp_client(create_app(settings, job_kinds={"echo": echo}))
    jobs: JobQueue = client.app[JOBS]
    quick = await jobs.enqueue("echo", {})
    await eventually(in_state(jobs, quick.id, JobState.done))  # woken at once, no poll wait
    blocked = await jobs.enqueue("echo", {"block": True})
    await asyncio.wait_for(started.wait(), 10)
    await client.close()
    async with jobs.sessions() as db:
        back = await db.get(Job, blocked.id)
    assert back is not None and back.state == JobState.queued and back.attempts == 0


@sqlite_only
async def test_serve_can_leave_jobs_to_workers(aiohttp_client: Any, settings: Settings) -> None:
    import dataclasses

    from server.app import create_app

    async def echo(payload: dict[str, Any], report: Progress) -> None:
        pass

    app = create_app(dataclasses.replace(settings, jobs_in_process=False), job_kinds={"echo": echo})
    client = await aiohttp_client(app)
    job = await client.app[JOBS].enqueue("echo")
    await asyncio.sleep(0.5)  # an in-process runner would have been woken at once
    assert (await client.app[JOBS].get(job.id)).state == JobState.queued
