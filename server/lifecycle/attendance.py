"""Attendance and link quality, recorded: the app's `AttendanceSink`.

Rooms tell it of every join and leave (synchronously, without waiting for the database); every
few seconds it reads each Room's relay statistics into per-minute link figures; a background
task writes both in one transaction now and then. A server that dies loses at most the last
few seconds; a stretch it leaves open (no `left_at`) is capped by the report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.interface import RoomStats

from ..live.attendance import ViewerReport
from ..live.participant import Participant
from ..live.room import LiveRoom
from ..models import Attendance, LinkSample, Source, Terminal, utcnow
from ..signalling.codes import LeaveReason
from .clock import Clock
from .quality import Minute, minute_of, readings

log = logging.getLogger("kelian.lifecycle.attendance")

MAX_PENDING = 100_000  # joins, leaves and minutes kept while the database is unreachable


@dataclass(frozen=True)
class _Joined:
    lesson_id: int
    participant_id: str
    role: str
    identity: str  # Principal.audit_name: "terminal:3", "user:7"
    name: str
    at: datetime


@dataclass(frozen=True)
class _Left:
    lesson_id: int
    participant_id: str
    reason: str
    at: datetime


def who(identity: str) -> tuple[str, int] | None:
    """What a participant's identity names: ("terminal" | "user" | "source", id), as
    `Principal.audit_name` and the WHIP ingest (`source:N`, a classroom's encoder) spell it.
    None for others (a WHEP player): the record keeps only its name."""
    kind, _, number = identity.partition(":")
    if kind in ("terminal", "user", "source") and number.isdigit():
        return kind, int(number)
    return None


class AttendanceLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock = utcnow,
                 sample_s: float = 5.0, write_s: float = 2.0):
        self._sessions = sessions
        self._clock = clock
        self.sample_s = sample_s
        self.write_s = write_s
        self._events: list[_Joined | _Left] = []
        self._rows: list[dict[str, object]] = []  # finished minutes, as LinkSample columns
        self._minutes: dict[tuple[int, str], Minute] = {}  # (lesson, participant) -> this minute
        self._snapshots: dict[int, tuple[RoomStats, float]] = {}  # lesson -> (stats, monotonic)
        self._rooms: Callable[[], Iterable[LiveRoom]] = list
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()

    # AttendanceSink ----------------------------------------------------------------------------

    def joined(self, lesson_id: int, participant: Participant) -> None:
        self._events.append(_Joined(lesson_id, participant.participant_id, participant.role.value,
                                    participant.identity, participant.name, self._clock()))

    def left(self, lesson_id: int, participant: Participant, reason: LeaveReason) -> None:
        self._events.append(_Left(lesson_id, participant.participant_id, reason.value,
                                  self._clock()))
        minute = self._minutes.pop((lesson_id, participant.participant_id), None)
        if minute is not None and not minute.empty:
            self._rows.append(minute.row())

    def reported(self, lesson_id: int, participant_id: str, report: ViewerReport) -> None:
        self._fold(lesson_id, participant_id, self._clock()).report(report)

    # Link quality ------------------------------------------------------------------------------

    def watch(self, rooms: Callable[[], Iterable[LiveRoom]]) -> None:
        """Sample these Rooms (`LiveLessons.rooms`)."""
        self._rooms = rooms

    def sample(self) -> None:
        """Read every Room's relay statistics once; fold the readings into this minute's."""
        now, tick = self._clock(), time.monotonic()
        seen: set[int] = set()
        for room in self._rooms():
            lesson_id = room.lesson.lesson_id
            seen.add(lesson_id)
            try:
                stats = room.media.stats()
            except Exception:  # a Room closing under us
                continue
            before, at = self._snapshots.get(lesson_id, (None, tick))
            self._snapshots[lesson_id] = (stats, tick)
            publishers = {pid: p.info.participant_id for pid, p in room.publications.items()}
            for participant_id, reading in readings(before, stats, tick - at, publishers).items():
                if participant_id in room.participants:
                    self._fold(lesson_id, participant_id, now).add(reading)
        for lesson_id in self._snapshots.keys() - seen:
            del self._snapshots[lesson_id]
        for key, minute in list(self._minutes.items()):
            if key[0] not in seen:  # the Room closed; its leaves came first
                self._finish(key, minute)

    def _fold(self, lesson_id: int, participant_id: str, now: datetime) -> Minute:
        key = (lesson_id, participant_id)
        current = self._minutes.get(key)
        start = minute_of(now)
        if current is not None and current.minute != start:
            self._finish(key, current)
            current = None
        if current is None:
            current = self._minutes[key] = Minute(lesson_id, participant_id, start)
        return current

    def _finish(self, key: tuple[int, str], minute: Minute) -> None:
        del self._minutes[key]
        if not minute.empty:
            self._rows.append(minute.row())

    # Writing -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="kelian-attendance")

    async def _run(self) -> None:
        last_sample = time.monotonic()
        while True:
            await asyncio.sleep(min(self.write_s, self.sample_s))
            if time.monotonic() - last_sample >= self.sample_s:
                last_sample = time.monotonic()
                self.sample()
            try:
                await self.write()
            except Exception:
                log.exception("writing attendance failed; retrying")

    async def close(self) -> None:
        """Stop sampling; write what is left (every minute in progress included)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for key, minute in list(self._minutes.items()):
            self._finish(key, minute)
        try:
            await self.write()
        except Exception:
            log.exception("writing the last attendance failed")

    async def write(self) -> None:
        """Store what was collected since the last write, in one transaction. On a database
        error it is kept for the next try; a batch the database refuses for good (its lesson
        was deleted meanwhile) is dropped."""
        async with self._write_lock:
            events, rows = self._events, self._rows
            if not events and not rows:
                return
            self._events, self._rows = [], []
            try:
                async with self._sessions() as db:
                    await _store(db, events, rows)
                    await db.commit()
            except IntegrityError:
                log.warning("dropped %d attendance records the database refused",
                            len(events) + len(rows))
            except BaseException:
                # Keep them, oldest first, unless the database has been away for very long.
                self._events = (events + self._events)[-MAX_PENDING:]
                self._rows = (rows + self._rows)[-MAX_PENDING:]
                raise


async def _classrooms(db: AsyncSession, named: set[tuple[str, int]]
                      ) -> dict[tuple[str, int], int]:
    """The classroom of each terminal and source named (those that still exist)."""
    found: dict[tuple[str, int], int] = {}
    for kind, model in (("terminal", Terminal), ("source", Source)):
        ids = {i for k, i in named if k == kind}
        if ids:
            rows = await db.execute(select(model.id, model.classroom_id).where(model.id.in_(ids)))
            found.update({(kind, i): c for i, c in rows})
    return found


async def _store(db: AsyncSession, events: list[_Joined | _Left],
                 rows: list[dict[str, object]]) -> None:
    named = {w for e in events if isinstance(e, _Joined) and (w := who(e.identity)) is not None}
    classroom_of = await _classrooms(db, named)
    for event in events:  # in order: a leave follows its join
        if isinstance(event, _Joined):
            found = who(event.identity)
            kind, ident = found if found is not None else ("", 0)
            await db.execute(insert(Attendance).values(
                lesson_id=event.lesson_id, participant_id=event.participant_id,
                identity=event.identity[:100], role=event.role,
                classroom_id=classroom_of.get((kind, ident)),
                terminal_id=ident if (kind, ident) in classroom_of and kind == "terminal"
                else None,
                user_id=ident if kind == "user" else None, name=event.name[:200],
                joined_at=event.at))
        else:
            await db.execute(
                update(Attendance)
                .where(Attendance.lesson_id == event.lesson_id,
                       Attendance.participant_id == event.participant_id,
                       Attendance.left_at.is_(None))
                .values(left_at=event.at, leave_reason=event.reason))
    if rows:
        await db.execute(insert(LinkSample), rows)
