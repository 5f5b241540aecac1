"""JobRunner: claims due jobs and runs their handlers, renewing each lease while it runs.

A handler is `async def handler(payload: dict, report: Progress) -> None`. It calls
`report(fraction, speed)` as often as it likes (values are kept in memory and written with the
next heartbeat), raises JobError for a failure it understands, and must tolerate running again
after a crash: delivery is at least once, since a worker can die after finishing but before
recording it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..waits import wait_for_event
from .errors import JobError, JobErrorCode, JobStopped
from .notify import Notifier
from .queue import JobQueue
from .store import DEFAULT_BACKOFF, LEASE_S, Backoff, Claim

log = logging.getLogger("kelian.jobs")


class Progress:
    """The `report` callback a handler gets; safe to call from a worker thread.

    Also tells the handler which job and attempt it runs (`job_id`, `attempt`), and whether
    it should stop (`stopping`); once it should, calling it raises JobStopped.
    """

    def __init__(self, claim: Claim) -> None:
        self.job_id = claim.job_id
        self.attempt = claim.attempt
        self.fraction = 0.0
        self.speed: float | None = None
        self._stop = threading.Event()

    def __call__(self, fraction: float, speed: float | None = None) -> None:
        if self._stop.is_set():
            raise JobStopped(f"job {self.job_id} was told to stop")
        self.fraction = min(1.0, max(0.0, float(fraction)))
        if speed is not None:
            self.speed = float(speed)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


Handler = Callable[[dict[str, Any], Progress], Awaitable[None]]


def _context(claim: Claim) -> dict[str, object]:
    """A job's fields for structured logs (server/logs.py)."""
    return {"job_id": claim.job_id, "job_kind": claim.kind, "attempt": claim.attempt,
            "worker": claim.worker, "subject": f"{claim.subject_type}:{claim.subject_id}"
            if claim.subject_type else None}


def default_worker_id() -> str:
    # Host and pid say where to look; the suffix tells a restarted process from its predecessor.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


@dataclass
class _Running:
    claim: Claim
    progress: Progress
    work: asyncio.Task[None]
    supervisor: asyncio.Task[None] | None = None
    lost: bool = False  # cancelled by someone, or the lease was taken over


class JobRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        handlers: Mapping[str, Handler],
        worker_id: str | None = None,
        concurrency: int = 1,
        *,
        notifier: Notifier | None = None,
        lease_s: float = LEASE_S,
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_s: float | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.queue = JobQueue(sessions, notifier, lease_s=lease_s, backoff=backoff)
        self.handlers = dict(handlers)
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.poll_s = poll_s if poll_s is not None else self.queue.notifier.poll_s
        # Renew well before the lease ends; often enough that a cancel is noticed quickly.
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else min(1.0, lease_s / 3)
        self._reap_every_s = min(self.poll_s, lease_s / 2)
        self._running: dict[int, _Running] = {}
        self._wake = asyncio.Event()
        self.waiting = asyncio.Event()  # set while idle until a wake-up or the next poll
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None

    @property
    def kinds(self) -> list[str]:
        return sorted(self.handlers)

    @property
    def running_jobs(self) -> list[int]:
        return sorted(self._running)

    async def start(self) -> None:
        self._unlisten = self.queue.notifier.listen(self._heard)
        self._loop_task = asyncio.create_task(self._loop(), name=f"jobs-{self.worker_id}")
        log.info("job runner %s started for %s (%d at a time)", self.worker_id,
                 ", ".join(self.kinds) or "no kinds", self.concurrency)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, cancel running handlers and give their jobs back to the queue.

        A handler that ignores cancellation for `timeout` seconds is left behind: its lease
        runs out and the job runs again elsewhere.
        """
        self._stopping = True
        self._wake.set()
        if self._unlisten is not None:
            self._unlisten()
        if self._loop_task is not None:
            # Let an in-flight claim finish (a cancelled one could commit unseen).
            done, _ = await asyncio.wait({self._loop_task}, timeout=timeout)
            if not done:
                self._loop_task.cancel()
        for running in list(self._running.values()):
            running.progress.stop()
            running.work.cancel()
        supervisors = {r.supervisor for r in self._running.values() if r.supervisor is not None}
        if supervisors:
            _, pending = await asyncio.wait(supervisors, timeout=timeout)
            for task in pending:
                log.warning("%s did not stop within %.0f s; its lease will run out",
                            task.get_name(), timeout)
        log.info("job runner %s stopped", self.worker_id)

    def _heard(self, kind: str) -> None:
        if not kind or kind in self.handlers:
            self._wake.set()

    async def _loop(self) -> None:
        last_reap = float("-inf")
        failing = False
        while not self._stopping:
            self._wake.clear()  # before claiming, so a wake-up during the claim is not lost
            try:
                if time.monotonic() - last_reap >= self._reap_every_s:
                    last_reap = time.monotonic()
                    for job_id in await self.queue.requeue_expired():
                        log.warning("job %d: its worker's lease ran out; taken back", job_id)
                while len(self._running) < self.concurrency and not self._stopping:
                    claim = await self.queue.claim(self.worker_id, self.kinds)
                    if claim is None:
                        break
                    if self._stopping:
                        await self.queue.release(claim)
                        break
                    self._launch(claim)
                if failing:
                    log.info("job queue reachable again")
                failing = False
            except Exception as exc:  # noqa: BLE001 - the database may be away; keep trying
                if not failing:
                    log.warning("job queue unreachable (%r); retrying every %.0f s", exc, self.poll_s)
                failing = True
            self.waiting.set()
            await wait_for_event(self._wake, self.poll_s)
            self.waiting.clear()

    def _launch(self, claim: Claim) -> None:
        handler = self.handlers[claim.kind]
        progress = Progress(claim)

        async def work() -> None:
            await handler(claim.payload, progress)

        running = _Running(claim, progress, asyncio.create_task(work(), name=f"job-{claim.job_id}"))
        running.supervisor = asyncio.create_task(self._supervise(running),
                                                 name=f"job-{claim.job_id}-supervisor")
        self._running[claim.job_id] = running

        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(claim.job_id, None)
            self._wake.set()  # a slot is free

        running.supervisor.add_done_callback(finished)

    async def _supervise(self, running: _Running) -> None:
        claim = running.claim
        log.info("job %d (%s) attempt %d of %d started", claim.job_id, claim.kind, claim.attempt,
                 claim.max_attempts, extra=_context(claim))
        beat = asyncio.create_task(self._beat(running))
        try:
            await asyncio.wait({running.work})
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if not running.work.done():  # we were cancelled ourselves (loop shutting down)
                running.work.cancel()
        try:
            await self._record(running)
        except Exception as exc:  # noqa: BLE001 - the lease runs out and the job runs again
            log.warning("job %d: could not record its outcome (%r)", claim.job_id, exc)

    async def _record(self, running: _Running) -> None:
        claim, work = running.claim, running.work
        error = None if work.cancelled() else work.exception()
        if running.lost:
            log.info("job %d stopped: cancelled, or its lease was taken over", claim.job_id,
                     extra=_context(claim))
        elif work.cancelled() or isinstance(error, JobStopped):
            await self.queue.release(claim)
            log.info("job %d given back to the queue (worker stopping)", claim.job_id,
                     extra=_context(claim))
        elif error is None:
            await self.queue.complete(claim)
            log.info("job %d (%s) done", claim.job_id, claim.kind, extra=_context(claim))
        elif isinstance(error, JobError):
            state = await self.queue.fail(claim, error.code, error.message, retry=error.retry)
            log.warning("job %d (%s) failed: %s: %s (now %s)", claim.job_id, claim.kind,
                        error.code, error.message, state,
                        extra=_context(claim) | {"error": error.code, "state": state})
        else:
            log.error("job %d (%s) crashed", claim.job_id, claim.kind, exc_info=error,
                      extra=_context(claim))
            await self.queue.fail(claim, JobErrorCode.crashed, f"{type(error).__name__}: {error}")

    async def _beat(self, running: _Running) -> None:
        claim, progress = running.claim, running.progress
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                held = await self.queue.heartbeat(claim, progress=progress.fraction,
                                                  speed=progress.speed)
            except Exception as exc:  # noqa: BLE001 - try again; the lease has some slack
                log.warning("job %d: heartbeat failed (%r)", claim.job_id, exc)
                continue
            if not held:
                running.lost = True
                progress.stop()
                running.work.cancel()
                return
