"""Job state changes as statements in the caller's session; none of them commits.

A claim is fenced by (job id, worker, attempt): every later change by the claimant names all
three and the state `running`, so a worker whose lease was taken away (or whose job was
cancelled) changes nothing and learns it from the row count.

Times come from the worker's clock: machines sharing a queue need NTP, and the lease (30 s by
default) is what absorbs their skew.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Job, JobState, utcnow
from .errors import JobErrorCode

LEASE_S = 30.0
MAX_ERROR_CHARS = 4000
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class Backoff:
    """Delay before the retry that follows attempt n: first_s × 2^(n-1), at most max_s."""

    first_s: float = 10.0
    max_s: float = 3600.0

    def delay(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(self.max_s, self.first_s * 2.0 ** min(max(attempt, 1) - 1, 40)))


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class Claim:
    """A job as its worker took it: what the handler needs and the fence for later changes."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    worker: str
    attempt: int
    max_attempts: int
    subject_type: str | None = None
    subject_id: str | None = None
    # Not part of equality: two claims of one attempt are the same claim.
    lease_s: float = field(default=LEASE_S, compare=False)


def _held(claim: Claim) -> ColumnElement[bool]:
    return (
        (Job.id == claim.job_id)
        & (Job.worker == claim.worker)
        & (Job.attempts == claim.attempt)
        & (Job.state == JobState.running)
    )


async def enqueue(
    db: AsyncSession,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    max_attempts: int = 3,
    delay_s: float = 0.0,
) -> Job:
    """Add a job; it becomes visible to workers when the caller commits."""
    if not kind or len(kind) > 64:
        raise ValueError(f"job kind {kind!r} must be 1-64 characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    job = Job(
        kind=kind,
        payload=dict(payload or {}),
        state=JobState.queued,
        attempts=0,
        max_attempts=max_attempts,
        progress=0.0,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        not_before=utcnow() + timedelta(seconds=delay_s),
    )
    db.add(job)
    await db.flush()
    return job


async def claim(
    db: AsyncSession, worker: str, kinds: Iterable[str], *, lease_s: float = LEASE_S
) -> Claim | None:
    """Take the oldest due queued job of one of `kinds` for `worker`, or None.

    One statement: on PostgreSQL the subquery locks the row it picks and skips rows other
    claimers hold (FOR UPDATE SKIP LOCKED), so concurrent workers never wait for or share a
    job. SQLite ignores FOR UPDATE but runs writers one at a time; the repeated
    `state = 'queued'` makes the update a compare-and-set either way.
    """
    kinds = sorted(set(kinds))
    if not kinds:
        return None
    now = utcnow()
    due = (
        select(Job.id)
        .where(Job.state == JobState.queued, Job.not_before <= now, Job.kind.in_(kinds))
        .order_by(Job.not_before, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(Job)
        .where(Job.id == due, Job.state == JobState.queued)
        .values(
            state=JobState.running,
            worker=worker,
            attempts=Job.attempts + 1,
            lease_until=now + timedelta(seconds=lease_s),
            started_at=now,
            progress=0.0,
            speed=None,
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts,
                   Job.subject_type, Job.subject_id)
    )
    row = (await db.execute(stmt, execution_options=_NO_SYNC)).one_or_none()
    if row is None:
        return None
    return Claim(job_id=row.id, kind=row.kind, payload=dict(row.payload or {}), worker=worker,
                 attempt=row.attempts, max_attempts=row.max_attempts,
                 subject_type=row.subject_type, subject_id=row.subject_id, lease_s=lease_s)


async def _change(db: AsyncSession, claim: Claim, **values: Any) -> bool:
    result = await db.execute(
        update(Job).where(_held(claim)).values(**values), execution_options=_NO_SYNC
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def heartbeat(
    db: AsyncSession, claim: Claim, *, progress: float | None = None, speed: float | None = None
) -> bool:
    """Renew the lease and store progress (0..1) and speed (× real time) when given.

    False means the job is no longer this claim's: cancelled, or its lease was taken over.
    """
    values: dict[str, Any] = {"lease_until": utcnow() + timedelta(seconds=claim.lease_s)}
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, float(progress)))
    if speed is not None:
        values["speed"] = float(speed)
    return await _change(db, claim, **values)


async def complete(db: AsyncSession, claim: Claim) -> bool:
    return await _change(db, claim, state=JobState.done, progress=1.0, lease_until=None,
                         finished_at=utcnow())


async def fail(
    db: AsyncSession,
    claim: Claim,
    code: str,
    message: str,
    *,
    retry: bool = True,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> JobState | None:
    """Record a failure. With `retry` and attempts left the job is queued again after a back-off,
    else it is `failed`. The code and message stay on the job either way. None: not ours."""
    now = utcnow()
    values: dict[str, Any] = {"error_code": code[:64], "error": message[:MAX_ERROR_CHARS],
                              "lease_until": None}
    if retry and claim.attempt < claim.max_attempts:
        state = JobState.queued
        values.update(worker=None, not_before=now + backoff.delay(claim.attempt))
    else:
        state = JobState.failed
        values.update(finished_at=now)
    return state if await _change(db, claim, state=state, **values) else None


async def release(db: AsyncSession, claim: Claim) -> bool:
    """Give a job back untried (its worker is shutting down): the attempt does not count."""
    return await _change(db, claim, state=JobState.queued, attempts=Job.attempts - 1,
                         worker=None, lease_until=None, not_before=utcnow())


async def cancel(db: AsyncSession, job_id: int) -> bool:
    """Cancel a queued or running job; a running handler is stopped at its next heartbeat."""
    result = await db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_([JobState.queued, JobState.running]))
        .values(state=JobState.cancelled, lease_until=None, finished_at=utcnow()),
        execution_options=_NO_SYNC,
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def requeue_expired(db: AsyncSession, *, limit: int = 100) -> list[int]:
    """Take back running jobs whose lease ran out (their worker died or hangs).

    The dead claim already counted as an attempt: the job is queued again, due now (the
    lease was the wait), or fails with `lease_expired` when that was its last attempt.
    Returns the ids of the jobs taken back.
    """
    now = utcnow()
    rows = (
        await db.execute(
            select(Job.id, Job.worker, Job.attempts, Job.max_attempts)
            .where(Job.state == JobState.running, Job.lease_until < now)
            .order_by(Job.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    taken: list[int] = []
    for row in rows:
        last = row.attempts >= row.max_attempts
        message = (
            f"worker {row.worker} stopped renewing its lease (it was killed, crashed or hung) "
            f"during attempt {row.attempts} of {row.max_attempts}"
        )
        values: dict[str, Any] = {
            "error_code": JobErrorCode.lease_expired.value,
            "error": message,
            "lease_until": None,
        }
        if last:
            values.update(state=JobState.failed, finished_at=now)
        else:
            values.update(state=JobState.queued, worker=None, not_before=now)
        # Compare-and-set: a heartbeat that renewed the lease meanwhile wins.
        claim = Claim(job_id=row.id, kind="", payload={}, worker=row.worker or "",
                      attempt=row.attempts, max_attempts=row.max_attempts)
        result = await db.execute(
            update(Job).where(_held(claim), Job.lease_until < now).values(**values),
            execution_options=_NO_SYNC,
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            taken.append(row.id)
    return taken


async def jobs_of(db: AsyncSession, subject_type: str, subject_id: str | int) -> list[Job]:
    """A subject's jobs, newest first (for a page showing a recording's transcode)."""
    result = await db.scalars(
        select(Job)
        .where(Job.subject_type == subject_type, Job.subject_id == str(subject_id))
        .order_by(Job.id.desc())
    )
    return list(result)
