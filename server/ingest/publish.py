"""A Source publishing into its classroom's live lesson: shared by WHIP (an encoder's offer over
HTTP) and RTSP (the node's own puller's offer), so both follow the same rules and labels.

    seat = await SourceSeat.prepare(live, db_sessions, source, offer)  # every check, Room open
    participant = seat.participant(outbox)
    answer = await seat.publish(participant)  # join and publish; nothing left behind on failure
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from media.interface import Room, SourceLabel

from ..live.lessons import LiveLessons
from ..live.participant import Outbox, Participant
from ..live.room import LessonInfo, LiveRoom
from ..live.rules import HUB, ParticipantRole, Seat, allowed_sources
from ..models import Classroom, Lesson, LessonStatus, Source, SourceRole
from ..signalling.codes import CloseCode, LeaveReason, SignalError
from .common import IngestError, offered_media, signal_status
from .sdp import MediaSection


@dataclass(frozen=True)
class SourceInfo:
    """What publishing needs of a Source, read while its database session is open."""

    source_id: int
    name: str
    role: SourceRole
    classroom_id: int
    classroom: str  # "School · Classroom", as participants show it

    @classmethod
    def of(cls, source: Source) -> SourceInfo:
        """`source.classroom.school` must be loaded."""
        return cls(source.id, source.name, source.role, source.classroom_id,
                   f"{source.classroom.school.name} · {source.classroom.name}")

    @property
    def identity(self) -> str:
        return f"source:{self.source_id}"


async def live_lesson(db: AsyncSession, classroom_id: int, among: Collection[int] | None = None
                      ) -> tuple[Lesson, ParticipantRole]:
    """The classroom's running lesson (the one it hosts first, then the latest started): of
    the lessons the database says are live, or of `among` (the ids of the Rooms open here)."""
    running = Lesson.status == LessonStatus.live if among is None else Lesson.id.in_(among)
    lessons = (await db.scalars(
        select(Lesson).where(running, or_(
            Lesson.host_classroom_id == classroom_id,
            Lesson.linked_classrooms.any(Classroom.id == classroom_id))))).all()
    if not lessons:
        raise IngestError(409, "no lesson of this classroom is live; start the lesson, then "
                               "publish again")
    lesson = min(lessons, key=lambda item: (item.host_classroom_id != classroom_id,
                                            -(item.actual_start or item.planned_start)
                                            .timestamp()))
    role = ParticipantRole.host_classroom if lesson.host_classroom_id == classroom_id \
        else ParticipantRole.receiving_classroom
    return lesson, role


def source_labels(sections: list[MediaSection], source_role: SourceRole, seat: ParticipantRole
                  ) -> dict[str, SourceLabel]:
    """What each sent m-line shows: the camera (courseware for a courseware encoder; a hub
    encoder's second video too, as only the hub shows courseware) and the microphone."""
    labels: dict[str, SourceLabel] = {}
    videos = 0
    for section in sections:
        if not section.sends or section.mid is None:
            continue
        if section.kind == "audio":
            labels[section.mid] = SourceLabel.microphone
        else:
            courseware = source_role is SourceRole.courseware or videos > 0 and seat in HUB
            labels[section.mid] = SourceLabel.screen if courseware else SourceLabel.camera
            videos += 1
    return labels


def concerned(room: LiveRoom, publisher: Participant, hosts_only: bool = False
              ) -> list[Participant]:
    """Who is told about a Source's trouble: the lesson's host and (unless `hosts_only`)
    whoever receives its Publications."""
    mine = {pid for pid, pub in room.publications.items()
            if pub.info.participant_id == publisher.participant_id}
    return [viewer for viewer in list(room.participants.values())
            if viewer is not publisher and (viewer.role is ParticipantRole.host
                                            or not hosts_only and room.wanted(viewer) & mine)]


@dataclass
class SourceSeat:
    """A Source's place in the Room of its classroom's live lesson, checked and ready."""

    source: SourceInfo
    offer: str
    lesson: LessonInfo
    role: ParticipantRole
    labels: dict[str, SourceLabel]
    room: LiveRoom

    @classmethod
    async def prepare(cls, live: LiveLessons, db_sessions: async_sessionmaker[AsyncSession],
                      source: SourceInfo, offer: str, among: Collection[int] | None = None
                      ) -> SourceSeat:
        """Raises `IngestError`: 400 for an offer that sends nothing, 409 when no lesson of the
        classroom is live (of `among`, if given: see `live_lesson`), 403 when the lesson-kind
        rules refuse what it sends."""
        sections = offered_media(offer, publishing=True)
        async with db_sessions() as db:
            lesson, role = await live_lesson(db, source.classroom_id, among)
            info = LessonInfo(lesson.id, lesson.title, lesson.kind, lesson.record)
        labels = source_labels(sections, source.role, role)
        # Refused before joining, so the lesson sees no source come and go (the Room checks
        # again).
        allowed = allowed_sources(info.kind, Seat(source.identity, role))
        refused = sorted({label.value for label in labels.values() if label not in allowed})
        if not allowed or refused:
            raise IngestError(403, f"a {role.value} may not publish "
                                   f"{', '.join(refused) or 'media'} in a {info.kind.value} "
                                   f"lesson")
        try:
            room = await live.ensure(info)
        except SignalError as err:
            raise IngestError(*signal_status(err)) from None
        if room.edge:  # its receivers' copy of a broadcast held by another node
            raise IngestError(409, "this node serves the lesson only as a cascade edge; "
                                   "publish to the node holding it")
        return cls(source, offer, info, role, labels, room)

    def participant(self, outbox: Outbox) -> Participant:
        # A source receives nothing. The same source publishing again replaces this one.
        return Participant(identity=self.source.identity, name=self.source.name, role=self.role,
                           classroom=self.source.classroom, outbox=outbox,
                           reception=frozenset)

    async def publish(self, participant: Participant) -> str:
        """Join the Room and publish the offer; the relay's answer. On failure the participant
        has left and its Outbox is closed."""
        try:
            await self.room.join(participant)
            return await self.room.publish(participant, self.offer, self.labels)
        except SignalError as err:
            await self._undo(participant)
            raise IngestError(*signal_status(err)) from None
        except BaseException:
            await self._undo(participant)
            raise

    async def adopt(self, participant: Participant, media: Room, media_id: str) -> None:
        """Join the Room and take over the Transport the Source has as `media_id` in `media`
        (the standby Room), connected. On failure the participant has left; its Outbox stays
        open: the Source goes on waiting."""
        try:
            await self.room.join(participant)
            self.room.adopt(participant, media, media_id, self.labels)
        except SignalError as err:
            await self.room.leave(participant.participant_id, LeaveReason.left)
            raise IngestError(*signal_status(err)) from None

    async def _undo(self, participant: Participant) -> None:
        participant.outbox.close(CloseCode.normal, LeaveReason.left)
        await self.room.leave(participant.participant_id, LeaveReason.left)
