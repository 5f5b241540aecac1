"""The lesson scheduler: moves lessons along by the clock inside `kelian serve`.

Every few seconds `tick` does, in order:

1. generate: now and then, the timetable's lessons for the coming days (`timetable`).
2. open: a timetabled lesson still scheduled goes live `open_early` before its planned start.
   Its Room opens and the classroom terminals, which poll for a live lesson, join by themselves
   while the teacher gets ready. The lesson is live from then on: `actual_start` says when the
   Room opened. A lesson whose planned time has passed entirely is left alone (it was missed).
3. record: at the planned start, a lesson the scheduler opened starts recording when its
   `record` flag says so; the minutes of waiting before are not recorded.
4. warn: `warn_before` its deadline, the lesson's host gets `event.notice lesson_ending_soon`.
5. end: `grace` after its deadline a live lesson ends, unless its teacher is still teaching
   (in the Room and publishing): then it ends when they stop, and `max_overrun` after the
   deadline at the latest. Ad-hoc lessons end so too: a forgotten Room would run all night.
6. alarm: a linked classroom with no attendance `join_alarm` after the lesson went live is
   recorded as failed to join, once, and the host gets `event.notice classroom_not_joined`;
   one that joins later gets its `joined_at` (`failures`).

The deadline is the planned end; a lesson that went live only after its planned end (a make-up
started by hand) gets its planned length from when it went live.

The database holds the state and every move is a compare-and-set on the status (as the
teacher's start and end buttons are), so a restart, a second node or a teacher starting or
ending by hand is safe: whoever moves first wins, the other finds nothing to do. Two things live
in memory only: which opened lessons still owe their recording start (after a restart the Room
reopens on the first join and records as the lesson says), and who was warned (a restart may
warn twice).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..audit import AuditTag
from ..config import Settings
from ..live.lessons import LiveLessons
from ..live.room import LessonInfo, LiveRoom
from ..live.rules import ParticipantRole
from ..models import Lesson, LessonStatus, utcnow
from ..services.lessons import move_status
from ..signalling import schema as wire
from ..signalling.codes import NoticeCode
from .clock import Clock
from .failures import detect, note_late_joins
from .timetable import generate_lessons

log = logging.getLogger("kelian.lifecycle.scheduler")

ACTOR = "scheduler"  # in the audit log
REGENERATE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class SchedulePolicy:
    open_early: timedelta = timedelta(minutes=5)
    warn_before: timedelta = timedelta(minutes=5)
    grace: timedelta = timedelta(minutes=5)
    max_overrun: timedelta = timedelta(minutes=20)
    timetable_days: int = 14
    join_alarm: timedelta = timedelta(minutes=3)

    @classmethod
    def from_settings(cls, s: Settings) -> SchedulePolicy:
        return cls(open_early=timedelta(minutes=s.lesson_open_early_min),
                   warn_before=timedelta(minutes=s.lesson_warn_min),
                   grace=timedelta(minutes=s.lesson_grace_min),
                   max_overrun=timedelta(minutes=s.lesson_max_overrun_min),
                   timetable_days=s.timetable_days,
                   join_alarm=timedelta(minutes=s.join_alarm_min))


@dataclass
class Tick:
    """What one tick did, by lesson id (for logs and tests)."""

    created: int = 0
    cancelled: int = 0
    opened: list[int] = field(default_factory=list)
    recording: list[int] = field(default_factory=list)
    warned: list[int] = field(default_factory=list)
    overrunning: list[int] = field(default_factory=list)  # past grace, teacher still teaching
    ended: list[int] = field(default_factory=list)
    not_joined: list[tuple[int, int]] = field(default_factory=list)  # (lesson, classroom)


def deadline(planned_start: datetime, planned_end: datetime,
             actual_start: datetime | None) -> datetime:
    if actual_start is not None and actual_start >= planned_end:
        return actual_start + (planned_end - planned_start)
    return planned_end


def teaching(room: LiveRoom) -> bool:
    """The teacher is in the Room and sends something (a muted microphone alone is not)."""
    hosts = {pid for pid, p in room.participants.items() if p.role is ParticipantRole.host}
    return any(pub.info.participant_id in hosts and not pub.muted
               for pub in room.publications.values())


class LessonScheduler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], live: LiveLessons,
                 policy: SchedulePolicy | None = None, clock: Clock = utcnow,
                 interval_s: float = 5.0):
        self._sessions = sessions
        self._live = live
        self.policy = policy or SchedulePolicy()
        self._clock = clock
        self.interval_s = interval_s
        self._lock = asyncio.Lock()
        self._generated_at: datetime | None = None
        self._owed_recording: dict[int, datetime] = {}  # lesson id -> planned start
        self._warned: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kelian-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                done = await self.tick()
                if done.opened or done.ended or done.created or done.cancelled \
                        or done.not_joined:
                    log.info("scheduler: %s", done, extra={  # not "created": a LogRecord's
                        "opened": done.opened, "ended": done.ended,
                        "lessons_created": done.created, "lessons_cancelled": done.cancelled})
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.interval_s)

    def regenerate(self) -> None:
        """Generate the timetable's lessons on the next tick, not only every ten minutes (after
        the timetable or the holidays changed)."""
        self._generated_at = None

    async def tick(self) -> Tick:
        """One pass over the lessons at the clock's time; each step on its own, so one
        failing (the database away for a moment) does not hold back the others."""
        async with self._lock:
            now = self._clock()
            done = Tick()
            for step in (self._generate, self._open, self._record, self._warn_and_end,
                         self._alarm):
                try:
                    await step(now, done)
                except Exception:
                    log.exception("scheduler: %s failed", step.__name__)
            return done

    async def _generate(self, now: datetime, done: Tick) -> None:
        last = self._generated_at
        if last is not None and last <= now < last + REGENERATE_EVERY:
            return
        async with self._sessions() as db:
            try:
                made = await generate_lessons(
                    db, now, now + timedelta(days=self.policy.timetable_days))
                await db.commit()
            except IntegrityError:  # another node generated the same lessons first
                await db.rollback()
                return
        self._generated_at = now
        done.created, done.cancelled = made.created, made.cancelled

    async def _open(self, now: datetime, done: Tick) -> None:
        async with self._sessions() as db:
            due = list(await db.scalars(
                select(Lesson).where(Lesson.status == LessonStatus.scheduled,
                                     Lesson.timetable_entry_id.is_not(None),
                                     Lesson.planned_start <= now + self.policy.open_early,
                                     Lesson.planned_end > now)
                .order_by(Lesson.planned_start)))
        for lesson in due:
            record_now = lesson.record and now >= lesson.planned_start
            async with self._sessions() as db:
                if not await move_status(db, lesson.id, LessonStatus.scheduled,
                                         LessonStatus.live, at=now):
                    await db.rollback()  # started by hand (or cancelled) meanwhile
                    continue
                audit.record(db, AuditTag.lesson_started, ACTOR, f"lesson:{lesson.id}")
                await self._live.start(LessonInfo(lesson.id, lesson.title, lesson.kind,
                                                  record_now, lesson.host_classroom_id))
                try:
                    await db.commit()
                except BaseException:
                    await self._live.end(lesson.id)
                    raise
            if lesson.record and not record_now:
                self._owed_recording[lesson.id] = lesson.planned_start
            done.opened.append(lesson.id)

    async def _record(self, now: datetime, done: Tick) -> None:
        due = [lesson_id for lesson_id, start in self._owed_recording.items() if now >= start]
        if not due:
            return
        async with self._sessions() as db:
            rows = await db.execute(select(Lesson.id).where(
                Lesson.id.in_(due), Lesson.status == LessonStatus.live, Lesson.record.is_(True)))
            still = set(rows.scalars())
        for lesson_id in due:
            del self._owed_recording[lesson_id]
            # Not when the teacher turned it off in the form, or started recording already.
            if lesson_id in still and await self._live.record(lesson_id):
                done.recording.append(lesson_id)

    async def _warn_and_end(self, now: datetime, done: Tick) -> None:
        policy = self.policy
        async with self._sessions() as db:
            rows = (await db.execute(
                select(Lesson.id, Lesson.planned_start, Lesson.planned_end, Lesson.actual_start)
                .where(Lesson.status == LessonStatus.live))).all()
        self._warned &= {row[0] for row in rows}  # forget lessons ended by hand
        for lesson_id, planned_start, planned_end, actual_start in rows:
            due = deadline(planned_start, planned_end, actual_start)
            room = self._live.get(lesson_id)
            if room is not None and room.edge:  # the origin's scheduler warns and decides
                room = None
            if now >= due - policy.warn_before and lesson_id not in self._warned \
                    and room is not None:
                if self._warn(room, due, now):
                    self._warned.add(lesson_id)
                    done.warned.append(lesson_id)
            if now < due + policy.grace:
                continue
            if room is not None and teaching(room) and now < due + policy.max_overrun:
                done.overrunning.append(lesson_id)
                continue
            if room is None and now < due + policy.max_overrun \
                    and await self._live.held_elsewhere(lesson_id):
                continue  # the scheduler of the node holding it sees whether it is taught
            if await self._end(lesson_id, now):
                done.ended.append(lesson_id)

    def _warn(self, room: LiveRoom, due: datetime, now: datetime) -> bool:
        minutes = max(0, round((due - now).total_seconds() / 60))
        notice = wire.Notice(code=NoticeCode.lesson_ending_soon,
                             message=f"The lesson's time ends in {minutes} min; it ends by "
                                     f"itself soon after unless you are still teaching")
        told = False
        for participant in list(room.participants.values()):
            if participant.role is ParticipantRole.host:
                participant.outbox.send(notice)
                told = True
        return told

    async def _alarm(self, now: datetime, done: Tick) -> None:
        def present(lesson_id: int) -> list[str]:
            room = self._live.get(lesson_id)
            return [] if room is None else [p.identity for p in room.participants.values()]

        await note_late_joins(self._sessions, now)
        for missing in await detect(self._sessions, now, self.policy.join_alarm, present):
            done.not_joined.append((missing.lesson_id, missing.classroom_id))
            room = self._live.get(missing.lesson_id)
            if room is not None:
                self._tell_not_joined(room, missing.label)

    def _tell_not_joined(self, room: LiveRoom, label: str) -> None:
        minutes = round(self.policy.join_alarm.total_seconds() / 60)
        notice = wire.Notice(code=NoticeCode.classroom_not_joined, classroom=label,
                             message=f"{label} has not joined the lesson {minutes} min after "
                                     f"it began")
        for participant in list(room.participants.values()):
            if participant.role is ParticipantRole.host:
                participant.outbox.send(notice)

    async def _end(self, lesson_id: int, now: datetime) -> bool:
        async with self._sessions() as db:
            if not await move_status(db, lesson_id, LessonStatus.live, LessonStatus.ended,
                                     at=now):
                await db.rollback()  # ended by hand meanwhile
                return False
            audit.record(db, AuditTag.lesson_ended, ACTOR, f"lesson:{lesson_id}")
            await db.commit()
        await self._live.end(lesson_id)
        self._warned.discard(lesson_id)
        self._owed_recording.pop(lesson_id, None)
        return True
