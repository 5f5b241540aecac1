"""A lesson's life: starting it opens its Room, ending it closes the Room.

The teacher of the lesson or an admin may do either (`can_change`). The status moves
scheduled -> live -> ended only, with one conditional UPDATE each, so two clicks at once start
a lesson once; the other gets a conflict.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..audit import AuditTag
from ..auth.policy import can_change
from ..auth.principal import Principal
from ..errors import ErrorCode, KelianError
from ..live.lessons import LiveLessons
from ..live.room import LessonInfo
from ..models import Lesson, LessonStatus, utcnow
from .records import get_record
from .specs import LESSON


async def _own_lesson(db: AsyncSession, who: Principal, lesson_id: int) -> Lesson:
    lesson: Lesson = await get_record(db, who, LESSON, lesson_id)
    if not can_change(who, LESSON.kind, lesson):
        raise KelianError(ErrorCode.forbidden, "Only the lesson's teacher starts or ends it")
    return lesson


async def move_status(db: AsyncSession, lesson_id: int, old: LessonStatus, new: LessonStatus,
                      at: datetime | None = None) -> bool:
    """Compare-and-set `old` -> `new`, stamping actual_start or actual_end with `at` (now);
    False when the lesson was not `old` any more (someone else moved it first)."""
    stamp = "actual_start" if new is LessonStatus.live else "actual_end"
    values = {"status": new, stamp: at or utcnow()}
    result = await db.execute(
        update(Lesson).where(Lesson.id == lesson_id, Lesson.status == old).values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


async def start_lesson(db: AsyncSession, who: Principal, lesson_id: int,
                       live: LiveLessons) -> Lesson:
    """scheduled -> live; opens the Room. Returns the lesson as stored."""
    lesson = await _own_lesson(db, who, lesson_id)
    if lesson.status is not LessonStatus.scheduled or not await move_status(
            db, lesson_id, LessonStatus.scheduled, LessonStatus.live):
        await db.rollback()
        raise KelianError(ErrorCode.conflict, "Only a scheduled lesson can be started")
    audit.record(db, AuditTag.lesson_started, who, f"lesson:{lesson_id}")
    await live.start(LessonInfo(lesson.id, lesson.title, lesson.kind, lesson.record,
                                 lesson.host_classroom_id))
    try:
        await db.commit()
    except BaseException:
        await live.end(lesson_id)
        raise
    db.expire_all()
    return await get_record(db, who, LESSON, lesson_id)


async def mark_ended(db: AsyncSession, who: Principal, lesson_id: int) -> None:
    """live -> ended in the database (committed); `LiveLessons.end` closes the Room."""
    await _own_lesson(db, who, lesson_id)
    if not await move_status(db, lesson_id, LessonStatus.live, LessonStatus.ended):
        await db.rollback()
        raise KelianError(ErrorCode.conflict, "Only a live lesson can be ended")
    audit.record(db, AuditTag.lesson_ended, who, f"lesson:{lesson_id}")
    await db.commit()


async def end_lesson(db: AsyncSession, who: Principal, lesson_id: int,
                     live: LiveLessons) -> Lesson:
    """live -> ended; closes the Room (everyone in it is told and disconnected)."""
    await mark_ended(db, who, lesson_id)
    await live.end(lesson_id)
    db.expire_all()
    return await get_record(db, who, LESSON, lesson_id)
