"""Names behind ids (for tables and cards) and the choices of select inputs.

Choices list only what the principal may see (`visible()`); names are looked up for records
the principal already sees, so a lesson shows its teacher's name to everyone who sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.policy import Kind, visible
from ..models import Classroom, Course, Role, School, SchoolKind, User
from .common import N_
from .forms import Choice, ChoiceLoader, FormContext

_SCHOOL_REFS = ("school_id", "hub_school_id")
_CLASSROOM_REFS = ("classroom_id", "hub_classroom_id", "host_classroom_id")
_CLASSROOM_LISTS = ("linked_classroom_ids",)
_USER_REFS = ("teacher_id",)
_USER_LISTS = ("observer_ids",)
_COURSE_REFS = ("course_id",)


@dataclass(frozen=True)
class RoomName:
    name: str
    school_id: int
    school: str
    time_zone: str

    @property
    def label(self) -> str:
        return f"{self.school} · {self.name}"


@dataclass
class Names:
    schools: dict[int, str] = field(default_factory=dict)
    classrooms: dict[int, RoomName] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    courses: dict[int, str] = field(default_factory=dict)
    default_zone: str = "Asia/Shanghai"  # for moments not tied to a school (token issued at)

    @classmethod
    async def load(cls, db: AsyncSession, rows: Iterable[Any], default_zone: str) -> Names:
        """The names of every school, classroom, user and course the rows refer to."""
        school_ids: set[int] = set()
        room_ids: set[int] = set()
        user_ids: set[int] = set()
        course_ids: set[int] = set()

        def collect(row: Any, attrs: tuple[str, ...], into: set[int], many: bool = False) -> None:
            for attr in attrs:
                value = getattr(row, attr, None)
                if value is None:
                    continue
                into.update(value if many else [value])

        for row in rows:
            collect(row, _SCHOOL_REFS, school_ids)
            collect(row, _CLASSROOM_REFS, room_ids)
            collect(row, _CLASSROOM_LISTS, room_ids, many=True)
            collect(row, _USER_REFS, user_ids)
            collect(row, _USER_LISTS, user_ids, many=True)
            collect(row, _COURSE_REFS, course_ids)
        names = cls(default_zone=default_zone)
        if room_ids:
            result = await db.execute(
                select(Classroom.id, Classroom.name, School.id, School.name, School.time_zone)
                .join(School, Classroom.school_id == School.id).where(Classroom.id.in_(room_ids))
            )
            for room_id, room, school_id, school, tz in result:
                names.classrooms[room_id] = RoomName(room, school_id, school, tz)
        if school_ids:
            result = await db.execute(select(School.id, School.name).where(School.id.in_(school_ids)))
            names.schools.update({i: n for i, n in result})
        if user_ids:
            result = await db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
            names.users.update({i: n for i, n in result})
        if course_ids:
            result = await db.execute(select(Course.id, Course.name).where(Course.id.in_(course_ids)))
            names.courses.update({i: n for i, n in result})
        return names

    def school(self, school_id: int | None) -> str:
        return "" if school_id is None else self.schools.get(school_id, f"#{school_id}")

    def classroom(self, room_id: int | None) -> str:
        if room_id is None:
            return ""
        room = self.classrooms.get(room_id)
        return room.label if room else f"#{room_id}"

    def user(self, user_id: int | None) -> str:
        return "" if user_id is None else self.users.get(user_id, f"#{user_id}")

    def course(self, course_id: int | None) -> str:
        return "" if course_id is None else self.courses.get(course_id, f"#{course_id}")

    def zone_of(self, room_id: int | None) -> str | None:
        room = self.classrooms.get(room_id) if room_id is not None else None
        return room.time_zone if room else None

    def fallback_choices(self) -> dict[str, str]:
        """Labels for selected values a select might not list (see forms.bind)."""
        out = {str(i): n for i, n in self.users.items()}
        out.update({str(i): r.label for i, r in self.classrooms.items()})
        return out


# Choice loaders -------------------------------------------------------------------------------


def enum_choices(labels: Mapping[Any, str], empty: str | None = None) -> ChoiceLoader:
    """Choices from a label table (translated); `empty` adds a first, empty choice."""

    async def load(ctx: FormContext) -> list[Choice]:
        tr = ctx.tr
        choices = [("", tr(empty))] if empty is not None else []
        return choices + [(str(getattr(k, "value", k)), tr(v)) for k, v in labels.items()]

    return load


NONE_CHOICE = N_("— none —")
CHOOSE = N_("— choose —")


def school_choices(empty: str = CHOOSE, hubs_only: bool = False) -> ChoiceLoader:
    async def load(ctx: FormContext) -> list[Choice]:
        stmt = select(School.id, School.name).where(visible(ctx.principal, Kind.school))
        if hubs_only:
            stmt = stmt.where(School.kind == SchoolKind.hub)
        rows = await ctx.db.execute(stmt.order_by(School.county, School.name))
        return [("", ctx.tr(empty))] + [(str(i), n) for i, n in rows]

    return load


def classroom_choices(empty: str | None = CHOOSE) -> ChoiceLoader:
    async def load(ctx: FormContext) -> list[Choice]:
        rows = await ctx.db.execute(
            select(Classroom.id, Classroom.name, School.name)
            .join(School, Classroom.school_id == School.id)
            .where(visible(ctx.principal, Kind.classroom))
            .order_by(School.name, Classroom.name)
        )
        first = [("", ctx.tr(empty))] if empty is not None else []
        return first + [(str(i), f"{school} · {room}") for i, room, school in rows]

    return load


def user_choices(role: Role, empty: str | None = CHOOSE) -> ChoiceLoader:
    async def load(ctx: FormContext) -> list[Choice]:
        rows = await ctx.db.execute(
            select(User.id, User.display_name, User.username)
            .where(visible(ctx.principal, Kind.user), User.role == role, User.active.is_(True))
            .order_by(User.display_name)
        )
        first = [("", ctx.tr(empty))] if empty is not None else []
        return first + [(str(i), f"{name} ({login})") for i, name, login in rows]

    return load


def course_choices(empty: str = NONE_CHOICE) -> ChoiceLoader:
    async def load(ctx: FormContext) -> list[Choice]:
        rows = await ctx.db.execute(
            select(Course.id, Course.name, School.name)
            .join(School, Course.school_id == School.id)
            .where(visible(ctx.principal, Kind.course))
            .order_by(School.name, Course.name)
        )
        return [("", ctx.tr(empty))] + [(str(i), f"{school} · {c}") for i, c, school in rows]

    return load


async def classroom_zone(ctx: FormContext, classroom_id: int) -> str | None:
    """The time zone of the school a classroom belongs to (lesson times are entered in it)."""
    return await ctx.db.scalar(
        select(School.time_zone).join(Classroom, Classroom.school_id == School.id)
        .where(Classroom.id == classroom_id)
    )
