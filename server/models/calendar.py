"""The school calendar beyond the weekly timetable: days without lessons, and swapped days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class Holiday(Base):
    """A day on which the usual timetable does not run: for one school (`school_id`), for every
    school of a county (`county`), or everywhere (neither). The most specific row of a day wins.

    `teaches_weekday` makes it a swapped working day (调休): that weekday's timetable runs
    instead, e.g. a Sunday taught as a Monday. Term dates live on the timetable entries.
    """

    __tablename__ = "holiday"
    __table_args__ = (
        CheckConstraint("school_id IS NULL OR county IS NULL", name="one_scope"),
        CheckConstraint("teaches_weekday IS NULL OR (teaches_weekday >= 1 AND teaches_weekday <= 7)",
                        name="weekday_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date(), index=True)
    name: Mapped[str] = mapped_column(String(200))
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("school.id", ondelete="CASCADE"), nullable=True, index=True
    )
    county: Mapped[str | None] = mapped_column(String(100), nullable=True)
    teaches_weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # ISO 1..7
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
