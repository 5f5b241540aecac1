"""Schools, their classrooms, the terminals in them and the sources feeding them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .enums import SchoolKind, SourceKind, SourceRole


def str_enum(enum: type) -> Enum:
    return Enum(enum, native_enum=False, create_constraint=True, length=32,
                values_callable=lambda e: [m.value for m in e], name=enum.__name__.lower())


class School(Base):
    __tablename__ = "school"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[SchoolKind] = mapped_column(str_enum(SchoolKind))
    county: Mapped[str] = mapped_column(String(100), index=True)
    # A teaching point is led by its hub school ("中心校带教学点").
    hub_school_id: Mapped[int | None] = mapped_column(
        ForeignKey("school.id", ondelete="SET NULL"), nullable=True
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    classrooms: Mapped[list[Classroom]] = relationship(
        back_populates="school", cascade="all, delete-orphan", passive_deletes=True
    )


class Classroom(Base):
    __tablename__ = "classroom"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    school: Mapped[School] = relationship(back_populates="classrooms")
    terminals: Mapped[list[Terminal]] = relationship(
        back_populates="classroom", cascade="all, delete-orphan", passive_deletes=True
    )
    sources: Mapped[list[Source]] = relationship(
        back_populates="classroom", cascade="all, delete-orphan", passive_deletes=True
    )


class Terminal(Base):
    """The device in a classroom. Its token is stored only as a hash and can be revoked."""

    __tablename__ = "terminal"
    __table_args__ = (UniqueConstraint("classroom_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classroom.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    token_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    classroom: Mapped[Classroom] = relationship(back_populates="terminals")

    @property
    def has_token(self) -> bool:
        return self.token_hash is not None


class Source(Base):
    """A camera or encoder feeding a classroom: pulled over RTSP, or pushed with a stream key."""

    __tablename__ = "source"
    __table_args__ = (UniqueConstraint("classroom_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[int] = mapped_column(
        ForeignKey("classroom.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SourceKind] = mapped_column(str_enum(SourceKind))
    role: Mapped[SourceRole] = mapped_column(str_enum(SourceRole), default=SourceRole.teacher)
    url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    stream_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    classroom: Mapped[Classroom] = relationship(back_populates="sources")
