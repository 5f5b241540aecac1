"""The lesson library: Recordings of lessons, the Resources made from them (or from uploads),
and each Resource's Renditions. Media files live under the library directory; rows hold paths
relative to it, so the directory can move."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .enums import LessonKind, RecordingState, ResourceState, Visibility
from .org import School, str_enum
from .people import User
from .teaching import Lesson


class Recording(Base):
    """One recording run of a lesson (a lesson stopped and restarted has several). Its segment
    files are remuxed from the relay's packets and stay playable if the server dies."""

    __tablename__ = "recording"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"),
                                           index=True)
    state: Mapped[RecordingState] = mapped_column(str_enum(RecordingState),
                                                  default=RecordingState.recording)
    directory: Mapped[str] = mapped_column(String(500))  # relative to the library directory
    # [{"file": "rec-7.0.mkv", "start_s": 0.0, "duration_s": 61.2 | null}] in order.
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    node: Mapped[str] = mapped_column(String(200), default="")  # which server wrote it

    lesson: Mapped[Lesson] = relationship()


class Resource(Base):
    """A library item: a lesson's recording (or an uploaded video) with its Renditions."""

    __tablename__ = "resource"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(100), default="")
    grade: Mapped[str] = mapped_column(String(50), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    lesson_kind: Mapped[LessonKind | None] = mapped_column(str_enum(LessonKind), nullable=True)
    taught_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    visibility: Mapped[Visibility] = mapped_column(str_enum(Visibility),
                                                   default=Visibility.school)
    state: Mapped[ResourceState] = mapped_column(str_enum(ResourceState),
                                                 default=ResourceState.processing, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # why processing failed
    # Who owns it (may edit and delete it) and whose teaching it is.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True)
    teacher_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True)
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("school.id", ondelete="SET NULL"), nullable=True, index=True)
    county: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lesson_id: Mapped[int | None] = mapped_column(
        ForeignKey("lesson.id", ondelete="SET NULL"), nullable=True, index=True)
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recording.id", ondelete="SET NULL"), nullable=True)
    directory: Mapped[str] = mapped_column(String(500))  # renditions etc., library-relative
    source_file: Mapped[str | None] = mapped_column(String(500), nullable=True)  # an upload
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # codec, size, fps, …
    poster: Mapped[str | None] = mapped_column(String(500), nullable=True)
    thumbnails: Mapped[str | None] = mapped_column(String(500), nullable=True)  # WebVTT
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    teacher: Mapped[User | None] = relationship(foreign_keys=[teacher_id])
    school: Mapped[School | None] = relationship()
    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", order_by="Rendition.height.desc()")


class Rendition(Base):
    """One rung of a Resource's HLS ladder (e.g. 720p)."""

    __tablename__ = "rendition"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(50))  # "1080p", "720p", "360p", "side_by_side"
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bandwidth: Mapped[int] = mapped_column(Integer)  # bits per second, as in the playlist
    playlist: Mapped[str] = mapped_column(String(500))  # library-relative
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)

    resource: Mapped[Resource] = relationship(back_populates="renditions")
