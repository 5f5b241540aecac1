"""Who may enter a running lesson's Room, and as what. Reads the database once per join.

- the lesson's teacher, or an admin: `host`;
- a terminal in the host classroom: `host_classroom`; in a linked classroom:
  `receiving_classroom`;
- an invited user: `observer`;
- an inspector whose county the lesson touches (host or linked classroom): `inspector`.

A lesson the principal may not see at all is "not found", as in the API; one it may see but
has no seat in is "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..auth.policy import Kind, visible
from ..auth.principal import Principal, PrincipalKind
from ..models import Classroom, Lesson, LessonStatus, Role
from ..signalling.codes import SignalError, SignalErrorCode
from .room import LessonInfo
from .rules import ParticipantRole


@dataclass(frozen=True)
class Admission:
    lesson: LessonInfo
    role: ParticipantRole
    name: str
    classroom: str | None  # "School · Classroom" of a terminal


def seat_of(who: Principal, lesson: Lesson) -> ParticipantRole | None:
    """The role `who` takes in `lesson`, or None (pure: reads the loaded lesson only)."""
    if who.kind is PrincipalKind.terminal:
        if who.classroom_id == lesson.host_classroom_id:
            return ParticipantRole.host_classroom
        if who.classroom_id in lesson.linked_classroom_ids:
            return ParticipantRole.receiving_classroom
        return None
    if who.kind is not PrincipalKind.user:
        return None
    if who.is_admin or who.user_id == lesson.teacher_id:
        return ParticipantRole.host
    if who.user_id in lesson.observer_ids:
        return ParticipantRole.observer
    if who.role is Role.inspector:
        return ParticipantRole.inspector  # the lesson is visible to them: it is in their county
    return None


async def admit(db: AsyncSession, who: Principal, lesson_id: int) -> Admission:
    lesson = await db.scalar(
        select(Lesson).where(Lesson.id == lesson_id, visible(who, Kind.lesson))
        .options(selectinload(Lesson.linked_classrooms), selectinload(Lesson.observers))
    )
    if lesson is None:
        raise SignalError(SignalErrorCode.not_found, f"No lesson with id {lesson_id}")
    role = seat_of(who, lesson)
    if role is None:
        raise SignalError(SignalErrorCode.forbidden, "You have no place in this lesson")
    if lesson.status is not LessonStatus.live:
        raise SignalError(SignalErrorCode.lesson_not_live,
                          f"The lesson is {lesson.status.value}, not live")
    classroom = None
    if who.kind is PrincipalKind.terminal:
        room = await db.scalar(select(Classroom).where(Classroom.id == who.classroom_id)
                               .options(selectinload(Classroom.school)))
        if room is not None:
            classroom = f"{room.school.name} · {room.name}"
    return Admission(LessonInfo(lesson.id, lesson.title, lesson.kind, lesson.record), role, who.name,
                     classroom)
