"""Courses, the weekly timetable and the lessons it (or a teacher) creates."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .enums import LessonKind, LessonStatus
from .org import Classroom, School, str_enum
from .people import User

timetable_entry_classroom = Table(
    "timetable_entry_classroom",
    Base.metadata,
    Column("timetable_entry_id", ForeignKey("timetable_entry.id", ondelete="CASCADE"),
           primary_key=True),
    Column("classroom_id", ForeignKey("classroom.id", ondelete="CASCADE"), primary_key=True),
)

lesson_classroom = Table(
    "lesson_classroom",
    Base.metadata,
    Column("lesson_id", ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True),
    Column("classroom_id", ForeignKey("classroom.id", ondelete="RESTRICT"), primary_key=True),
)

# Observers see only the lessons they are invited to.
lesson_observer = Table(
    "lesson_observer",
    Base.metadata,
    Column("lesson_id", ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)


class Course(Base):
    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    school: Mapped[School] = relationship()


class TimetableEntry(Base):
    """A weekly slot within a term: at a local time in the host school's time zone."""

    __tablename__ = "timetable_entry"
    __table_args__ = (
        CheckConstraint("weekday >= 1 AND weekday <= 7", name="weekday_range"),
        CheckConstraint("end_time > start_time", name="time_order"),
        CheckConstraint("term_end >= term_start", name="term_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RESTRICT: deleting a course, teacher or classroom still in the timetable is refused.
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="RESTRICT"), index=True)
    teacher_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="RESTRICT"), index=True
    )
    hub_classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classroom.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[LessonKind] = mapped_column(str_enum(LessonKind))
    weekday: Mapped[int] = mapped_column(Integer)  # ISO: 1 = Monday … 7 = Sunday
    start_time: Mapped[time] = mapped_column(Time())
    end_time: Mapped[time] = mapped_column(Time())
    term_start: Mapped[date] = mapped_column(Date())
    term_end: Mapped[date] = mapped_column(Date())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    course: Mapped[Course] = relationship()
    teacher: Mapped[User] = relationship()
    hub_classroom: Mapped[Classroom] = relationship()
    linked_classrooms: Mapped[list[Classroom]] = relationship(
        secondary=timetable_entry_classroom, order_by=Classroom.id
    )

    @property
    def linked_classroom_ids(self) -> list[int]:
        return [c.id for c in self.linked_classrooms]


class Lesson(Base):
    """One class: a timetable occurrence or an ad-hoc lesson. Its Room lives while it is live."""

    __tablename__ = "lesson"
    __table_args__ = (
        CheckConstraint("planned_end > planned_start", name="planned_order"),
        UniqueConstraint("timetable_entry_id", "planned_start"),
        UniqueConstraint("timetable_entry_id", "timetable_slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[LessonKind] = mapped_column(str_enum(LessonKind))
    status: Mapped[LessonStatus] = mapped_column(
        str_enum(LessonStatus), default=LessonStatus.scheduled, index=True
    )
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("course.id", ondelete="SET NULL"), nullable=True, index=True
    )
    timetable_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("timetable_entry.id", ondelete="SET NULL"), nullable=True
    )
    # The start the timetable gave it: a lesson moved by hand keeps it, so regenerating the
    # timetable neither moves it back nor makes a second one.
    timetable_slot: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # RESTRICT: lessons are records of teaching; their teacher and classroom cannot vanish.
    teacher_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="RESTRICT"), index=True
    )
    host_classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classroom.id", ondelete="RESTRICT"), index=True
    )
    planned_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    planned_end: Mapped[datetime] = mapped_column(UTCDateTime())
    actual_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    actual_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    course: Mapped[Course | None] = relationship()
    teacher: Mapped[User] = relationship()
    host_classroom: Mapped[Classroom] = relationship()
    linked_classrooms: Mapped[list[Classroom]] = relationship(
        secondary=lesson_classroom, order_by=Classroom.id
    )
    observers: Mapped[list[User]] = relationship(secondary=lesson_observer, order_by=User.id)

    @property
    def linked_classroom_ids(self) -> list[int]:
        return [c.id for c in self.linked_classrooms]

    @property
    def observer_ids(self) -> list[int]:
        return [u.id for u in self.observers]
