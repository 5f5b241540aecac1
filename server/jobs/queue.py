"""JobQueue: the store's operations, each in its own committed transaction, plus wake-ups.

Use `store` directly instead to enqueue inside a larger transaction (a recording and its
transcode job together), then call `JobQueue.notify(kind)` after the commit.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..models import Job, JobState
from . import store
from .notify import LocalNotifier, Notifier
from .store import DEFAULT_BACKOFF, LEASE_S, Backoff, Claim

log = logging.getLogger("kelian.jobs")


class JobQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        notifier: Notifier | None = None,
        *,
        lease_s: float = LEASE_S,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.sessions = sessions
        self.notifier: Notifier = notifier or LocalNotifier()
        self.lease_s = lease_s
        self.backoff = backoff

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        subject_type: str | None = None,
        subject_id: str | int | None = None,
        max_attempts: int = 3,
        delay_s: float = 0.0,
    ) -> Job:
        async with self.sessions() as db, db.begin():
            job = await store.enqueue(db, kind, payload, subject_type=subject_type,
                                      subject_id=subject_id, max_attempts=max_attempts,
                                      delay_s=delay_s)
        if delay_s <= 0:
            await self.notify(kind)
        return job

    async def notify(self, kind: str) -> None:
        """Wake workers for `kind`. Never fails: without the wake-up they still poll."""
        try:
            await self.notifier.publish(kind)
        except Exception as exc:  # noqa: BLE001 - a lost hint only costs a poll interval
            log.warning("could not announce a %s job (%s); workers will find it by polling", kind, exc)

    async def claim(self, worker: str, kinds: list[str] | set[str]) -> Claim | None:
        async with self.sessions() as db, db.begin():
            return await store.claim(db, worker, kinds, lease_s=self.lease_s)

    async def heartbeat(self, claim: Claim, *, progress: float | None = None,
                        speed: float | None = None) -> bool:
        async with self.sessions() as db, db.begin():
            return await store.heartbeat(db, claim, progress=progress, speed=speed)

    async def complete(self, claim: Claim) -> bool:
        async with self.sessions() as db, db.begin():
            return await store.complete(db, claim)

    async def fail(self, claim: Claim, code: str, message: str, *,
                   retry: bool = True) -> JobState | None:
        async with self.sessions() as db, db.begin():
            return await store.fail(db, claim, code, message, retry=retry, backoff=self.backoff)

    async def release(self, claim: Claim) -> bool:
        async with self.sessions() as db, db.begin():
            released = await store.release(db, claim)
        if released:
            await self.notify(claim.kind)  # another worker may take it at once
        return released

    async def cancel(self, job_id: int) -> bool:
        async with self.sessions() as db, db.begin():
            return await store.cancel(db, job_id)

    async def requeue_expired(self) -> list[int]:
        async with self.sessions() as db, db.begin():
            return await store.requeue_expired(db)

    async def get(self, job_id: int) -> Job | None:
        async with self.sessions() as db:
            return await db.get(Job, job_id)

    async def jobs_of(self, subject_type: str, subject_id: str | int) -> list[Job]:
        async with self.sessions() as db:
            return await store.jobs_of(db, subject_type, subject_id)
