"""Durable background jobs: a queue in the database, runners in `kelian serve` and `kelian worker`.

    queue = JobQueue(sessions)                       # or app[JOBS] inside the web app
    await queue.enqueue("transcode", {"recording": 7}, subject_type="recording", subject_id=7)

    async def transcode(payload: dict, report: Progress) -> None:
        report(0.5, speed=3.2)                       # half done, at 3.2× real time
        raise JobError("bad_input", "the recording has no video track")   # fails for good

Handlers are registered in `server.jobs.kinds.job_handlers`.
"""

from ..models import Job, JobState
from .errors import JobError, JobErrorCode, JobStopped
from .kinds import job_handlers
from .notify import LocalNotifier, Notifier, RedisNotifier, open_notifier
from .queue import JobQueue
from .runner import Handler, JobRunner, Progress, default_worker_id
from .store import LEASE_S, Backoff, Claim

__all__ = [
    "LEASE_S", "Backoff", "Claim", "Handler", "Job", "JobError", "JobErrorCode", "JobQueue",
    "JobRunner", "JobState", "JobStopped", "LocalNotifier", "Notifier", "Progress",
    "RedisNotifier", "default_worker_id", "job_handlers", "open_notifier",
]
