"""Wake-ups through a real Redis: an idle worker starts a job at once instead of at its next poll."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.jobs import JobQueue, JobRunner, JobState, LocalNotifier, Progress, RedisNotifier
from tests.helpers import eventually

from .conftest import sqlite_only


async def nothing(payload: dict[str, Any], report: Progress) -> None:
    pass


async def states(queue: JobQueue, *job_ids: int) -> list[JobState]:
    return [job.state for job_id in job_ids if (job := await queue.get(job_id)) is not None]


@sqlite_only  # the notification does not depend on the database
async def test_redis_wakes_an_idle_worker(sessions: async_sessionmaker[AsyncSession],
                                          redis_url: str) -> None:
    channel = f"kelian:test:{secrets.token_hex(4)}"
    heard = RedisNotifier(redis_url, channel)  # subscribes when the runner listens
    announcing = JobQueue(sessions, RedisNotifier(redis_url, channel))  # another node, say
    silent = JobQueue(sessions, LocalNotifier())  # a node whose enqueues nobody hears
    runner = JobRunner(sessions, {"k": nothing}, "idle-worker", notifier=heard, poll_s=60)
    await runner.start()
    try:
        await asyncio.wait_for(heard.ready.wait(), 5)
        await asyncio.wait_for(runner.waiting.wait(), 5)  # its first look found nothing
        unannounced = await silent.enqueue("k")
        await asyncio.sleep(0.5)
        # Polling alone would take a minute; this proves the wake-up below is what works.
        assert await states(silent, unannounced.id) == [JobState.queued]

        announced = await announcing.enqueue("k")

        async def both_done() -> bool:
            return await states(silent, unannounced.id, announced.id) == [JobState.done] * 2

        await eventually(both_done, timeout=5)  # a poll would take 60 s
    finally:
        await runner.stop()
        await heard.close()
        await announcing.notifier.close()


@sqlite_only
async def test_unreachable_redis_falls_back_to_polling(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    dead = RedisNotifier("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    queue = JobQueue(sessions, dead)
    runner = JobRunner(sessions, {"k": nothing}, "w", notifier=dead, poll_s=0.2)
    await runner.start()
    try:
        job = await queue.enqueue("k")  # the failed announcement is logged, not raised

        async def done() -> bool:
            return await states(queue, job.id) == [JobState.done]

        await eventually(done, timeout=5)
    finally:
        await runner.stop()
        await dead.close()
