"""Background jobs (e.g. transcoding a recording): durable, retried, leased to one worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow
from .enums import JobState
from .org import str_enum


class Job(Base):
    """One unit of background work. `server.jobs` owns every state change; read it freely."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts_range"),
        # What a worker asks every poll: the due queued jobs, and the running ones past lease.
        Index("ix_jobs_state_not_before", "state", "not_before"),
        Index("ix_jobs_state_lease_until", "state", "lease_until"),
        # What the UI asks: the jobs of one resource.
        Index("ix_jobs_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(str_enum(JobState), default=JobState.queued)
    # Claims so far, the current one included; a claim whose worker died counts too.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    speed: Mapped[float | None] = mapped_column(Float, nullable=True)  # × real time
    # The last failure, kept when the job is retried or fails for good.
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the job is about, so a page can show a resource's jobs ("recording", "42").
    subject_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.done, JobState.failed, JobState.cancelled)
