"""Linked classrooms that did not join their live lesson in time (the join alarm)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class JoinFailure(Base):
    """One linked classroom with no attendance at all `join_alarm_min` after its lesson went
    live. Kept when the classroom joins later (`joined_at`), so the record says how late."""

    __tablename__ = "join_failure"
    # Once per lesson and classroom, whichever node or tick noticed it first.
    __table_args__ = (UniqueConstraint("lesson_id", "classroom_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"))
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classroom.id", ondelete="CASCADE"), index=True
    )
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # The classroom's first join after all, if it came.
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
