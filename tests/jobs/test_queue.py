"""The job queue's state changes on SQLite and PostgreSQL: claim, progress, retry, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.jobs import Job, JobErrorCode, JobQueue, JobState, store
from server.models import utcnow
from tests.helpers import eventually

from .conftest import postgres_only, sqlite_only


async def fetch(queue: JobQueue, job_id: int) -> Job:
    job = await queue.get(job_id)
    assert job is not None
    return job


async def test_enqueue_claim_complete(queue: JobQueue) -> None:
    job = await queue.enqueue("transcode", {"recording": 7}, subject_type="recording", subject_id=7)
    assert (job.state, job.attempts, job.max_attempts, job.subject_id) == (JobState.queued, 0, 3, "7")

    assert await queue.claim("w1", ["poster"]) is None  # another kind
    claim = await queue.claim("w1", ["transcode", "poster"])
    assert claim is not None
    assert (claim.job_id, claim.kind, claim.payload, claim.attempt) == (job.id, "transcode",
                                                                        {"recording": 7}, 1)
    assert await queue.claim("w2", ["transcode"]) is None  # each job is taken once

    running = await fetch(queue, job.id)
    assert running.state == JobState.running and running.worker == "w1"
    assert running.started_at is not None and running.lease_until is not None
    assert running.lease_until > utcnow()

    assert await queue.complete(claim)
    done = await fetch(queue, job.id)
    assert (done.state, done.progress, done.attempts) == (JobState.done, 1.0, 1)
    assert done.finished_at is not None and done.lease_until is None
    assert not await queue.complete(claim)  # a finished job does not change again
    assert [j.id for j in await queue.jobs_of("recording", 7)] == [job.id]


async def test_claim_takes_due_jobs_oldest_first(queue: JobQueue) -> None:
    later = await queue.enqueue("k", delay_s=60)
    first = await queue.enqueue("k")
    second = await queue.enqueue("k")
    taken = [await queue.claim("w", ["k"]) for _ in range(3)]
    assert [c.job_id if c else None for c in taken] == [first.id, second.id, None]
    assert (await fetch(queue, later.id)).state == JobState.queued


async def test_progress_and_speed_are_stored_and_renew_the_lease(queue: JobQueue) -> None:
    job = await queue.enqueue("k")
    claim = await queue.claim("w", ["k"])
    assert claim is not None
    first_lease = (await fetch(queue, job.id)).lease_until
    assert first_lease is not None
    await asyncio.sleep(0.05)
    assert await queue.heartbeat(claim, progress=0.25, speed=3.5)
    stored = await fetch(queue, job.id)
    assert (stored.progress, stored.speed) == (0.25, 3.5)
    assert stored.lease_until is not None and stored.lease_until > first_lease
    assert await queue.heartbeat(claim, progress=7)  # clamped, not refused
    assert (await fetch(queue, job.id)).progress == 1.0

    for _ in range(6):  # 0.6 s in all, twice the 0.3 s lease: renewed, it never runs out
        await asyncio.sleep(0.1)
        assert await queue.heartbeat(claim)
        assert await queue.requeue_expired() == []
    assert (await fetch(queue, job.id)).state == JobState.running


async def test_retry_with_backoff_then_failed_keeping_the_error(queue: JobQueue) -> None:
    """Back-off 0.2 s, doubling; 3 attempts, then `failed` with the last error."""
    job = await queue.enqueue("k", max_attempts=3)
    for attempt, delay in ((1, 0.2), (2, 0.4)):
        claim = await eventually(lambda: queue.claim("w", ["k"]), timeout=5, interval=0.02)
        assert claim.attempt == attempt
        before = utcnow()
        assert await queue.fail(claim, "source_offline", f"share away ({attempt})") == JobState.queued
        waiting = await fetch(queue, job.id)
        assert waiting.state == JobState.queued and waiting.worker is None
        assert (waiting.error_code, waiting.error) == ("source_offline", f"share away ({attempt})")
        wait = waiting.not_before - before
        assert timedelta(seconds=delay - 0.05) <= wait <= timedelta(seconds=delay + 2)
        assert await queue.claim("w", ["k"]) is None  # not before the back-off ends

    claim = await eventually(lambda: queue.claim("w", ["k"]), timeout=5, interval=0.02)
    assert claim.attempt == 3
    assert await queue.fail(claim, "source_offline", "share away (3)") == JobState.failed
    failed = await fetch(queue, job.id)
    assert (failed.state, failed.attempts, failed.error_code, failed.error) == (
        JobState.failed, 3, "source_offline", "share away (3)")
    assert failed.finished_at is not None
    assert await queue.claim("w", ["k"]) is None


async def test_cancel(queue: JobQueue) -> None:
    waiting = await queue.enqueue("k")
    assert await queue.cancel(waiting.id)
    assert await queue.claim("w", ["k"]) is None
    assert (await fetch(queue, waiting.id)).state == JobState.cancelled

    running = await queue.enqueue("k")
    claim = await queue.claim("w", ["k"])
    assert claim is not None
    assert await queue.cancel(running.id)
    # The worker learns it at its next heartbeat and cannot finish the job any more.
    assert not await queue.heartbeat(claim, progress=0.5)
    assert not await queue.complete(claim)
    assert await queue.fail(claim, "x", "y") is None
    assert (await fetch(queue, running.id)).state == JobState.cancelled
    assert not await queue.cancel(running.id)  # already finished


async def test_release_gives_the_attempt_back(queue: JobQueue) -> None:
    job = await queue.enqueue("k", max_attempts=1)
    claim = await queue.claim("w", ["k"])
    assert claim is not None
    assert await queue.release(claim)
    again = await queue.claim("w2", ["k"])
    assert again is not None and again.attempt == 1
    assert not await queue.complete(claim)  # the old claim is fenced off
    assert await queue.complete(again)
    assert (await fetch(queue, job.id)).worker == "w2"


async def test_expired_lease_returns_the_job_counting_the_attempt(queue: JobQueue) -> None:
    """A worker that claims and never renews (it died): lease 0.3 s, 2 attempts."""
    job = await queue.enqueue("k", max_attempts=2)
    dead = await queue.claim("dead-worker", ["k"])
    assert dead is not None
    assert await queue.requeue_expired() == []  # the lease still runs

    assert await eventually(queue.requeue_expired, timeout=5) == [job.id]
    back = await fetch(queue, job.id)
    assert (back.state, back.attempts, back.worker, back.error_code) == (
        JobState.queued, 1, None, JobErrorCode.lease_expired)
    assert "dead-worker" in (back.error or "")
    assert not await queue.complete(dead)  # too late for the dead claim

    second = await queue.claim("second-worker", ["k"])
    assert second is not None and second.attempt == 2
    assert await eventually(queue.requeue_expired, timeout=5) == [job.id]
    gone = await fetch(queue, job.id)
    assert (gone.state, gone.attempts, gone.error_code) == (JobState.failed, 2,
                                                            JobErrorCode.lease_expired)
    assert "second-worker" in (gone.error or "") and "attempt 2 of 2" in (gone.error or "")


async def test_enqueue_in_a_larger_transaction(sessions: async_sessionmaker[AsyncSession],
                                               queue: JobQueue) -> None:
    """`store.enqueue` joins the caller's transaction: a rollback leaves no job behind."""
    async with sessions() as db:
        await store.enqueue(db, "k", {"n": 1})
        await db.rollback()
    assert await queue.claim("w", ["k"]) is None
    async with sessions() as db:
        job = await store.enqueue(db, "k", {"n": 2})
        await db.commit()
    claim = await queue.claim("w", ["k"])
    assert claim is not None and claim.job_id == job.id and claim.payload == {"n": 2}


@sqlite_only  # SQLite's single writer; PostgreSQL's row locks are raced below, harder
async def test_concurrent_claimers_take_each_job_once(queue: JobQueue) -> None:
    await claim_all_concurrently(queue, jobs=30, claimers=4)


@postgres_only
async def test_many_concurrent_claimers_on_postgres(queue: JobQueue) -> None:
    await claim_all_concurrently(queue, jobs=300, claimers=12)


async def claim_all_concurrently(queue: JobQueue, jobs: int, claimers: int) -> None:
    """Claimers race on their own sessions; every job must be taken exactly once."""
    async with queue.sessions() as db:
        for n in range(jobs):
            await store.enqueue(db, "k", {"n": n})
        await db.commit()
    start = asyncio.Event()

    async def claimer(name: str) -> list[int]:
        taken: list[int] = []
        await start.wait()
        while (claim := await queue.claim(name, ["k"])) is not None:
            taken.append(claim.job_id)
            assert await queue.complete(claim)
        return taken

    tasks = [asyncio.create_task(claimer(f"w{i}")) for i in range(claimers)]
    start.set()
    results = await asyncio.gather(*tasks)
    everything = [job_id for taken in results for job_id in taken]
    assert len(everything) == len(set(everything)) == jobs
    assert sum(1 for taken in results if taken) > 1, "the claimers did not overlap at all"
