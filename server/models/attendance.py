"""Who was in each lesson's Room and when, and how good their link was (for the lesson report)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class Attendance(Base):
    """One stretch of one participant in a lesson's Room, from joining to leaving. A classroom
    that reconnects has several; the report merges them per classroom (or person)."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(32))  # the Room's id; link samples carry it
    # Who joined: "terminal:3", "user:7", "source:5" (a WHIP encoder), "whep:…" (a player).
    identity: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))  # a ParticipantRole value
    # A terminal's classroom, or the person; SET NULL keeps the record when they are deleted.
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classroom.id", ondelete="SET NULL"), nullable=True
    )
    terminal_id: Mapped[int | None] = mapped_column(
        ForeignKey("terminal.id", ondelete="SET NULL"), nullable=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))  # as the Room showed it
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # None while connected, or when the server died meanwhile (the report caps it).
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    leave_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a LeaveReason


class LinkSample(Base):
    """One participant's link over one minute of a lesson, from the relay's statistics sampled
    every few seconds: one row per participant per minute keeps a 300-classroom lesson small."""

    __tablename__ = "link_sample"
    __table_args__ = (Index("ix_link_sample_lesson_minute", "lesson_id", "minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(32))
    minute: Mapped[datetime] = mapped_column(UTCDateTime())  # the minute's start
    samples: Mapped[int] = mapped_column(Integer)
    # What the relay sends the participant (its downlink): round trip, loss, jitter, rate.
    rtt_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    loss_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    jitter_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    down_kbps: Mapped[float] = mapped_column(Float, default=0.0)
    # What the participant publishes (its uplink), as received by the relay.
    up_kbps: Mapped[float] = mapped_column(Float, default=0.0)
    # From the participant's own reports (a terminal's getStats): the frame rate it shows of
    # the main video, and its freezes (count and time frozen) within the minute.
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    freezes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    freeze_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
