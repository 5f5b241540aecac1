"""`LiveRoom`: one running lesson on the control plane.

It holds who is in the Room (Participants), which Publications exist, and the classroom state
(floor, hands, stage, chat, questions; changed by `actions`). It drives the media Room through
`media.interface` only: it passes SDP through, and after every change it recomputes each
participant's Subscriptions from the lesson-kind rules and asks the relay for a new offer where
they differ. One worker task per Room does that; a participant's receive-transport calls and
its removal are serialized by its `media_lock`, and an offer waits for its answer before the
next one is made.

Close cascade: `close()` tells every participant the lesson ended, closes their sockets and
closes the media Room, which ends every Transport, Publication and Subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from media.interface import (
    ActiveSpeaker,
    CloseReason,
    MediaError,
    MediaEvent,
    MediaService,
    PublicationAdded,
    PublicationInfo,
    PublicationRemoved,
    RecordingFailed,
    RecordingSegmentClosed,
    RecordingSegmentOpened,
    Room,
    SourceLabel,
    TransportClosed,
    VideoPaused,
    VideoResumed,
)

from ..models import LessonKind
from ..signalling import schema as wire
from ..signalling.codes import CloseCode, LeaveReason, NoticeCode, SignalError, SignalErrorCode
from . import cameras, rules
from .attendance import AttendanceSink, ViewerReport
from .participant import Participant
from .recording import Feeds, RecordingStore, RoomRecorder, choose_feeds

log = logging.getLogger("kelian.live.room")

RECENT_CHAT = 50
# Leaves a classroom did not choose: its kiosk will be back by itself.
UNPLANNED_LEAVES = frozenset({LeaveReason.disconnected, LeaveReason.slow_client,
                              LeaveReason.flood})
MAX_QUESTIONS = 200

_MEDIA_CODES = {
    "bad_sdp": SignalErrorCode.bad_sdp,
    "unknown_publication": SignalErrorCode.not_found,
    "unexpected_answer": SignalErrorCode.unexpected_answer,
    "room_closed": SignalErrorCode.lesson_not_live,
}
_CLOSE_CODES = {
    LeaveReason.lesson_ended: CloseCode.lesson_ended,
    LeaveReason.shutdown: CloseCode.going_away,
    LeaveReason.moved: CloseCode.moved,
}


def media_failure(err: MediaError) -> SignalError:
    return SignalError(_MEDIA_CODES.get(err.code, SignalErrorCode.media_failed), err.message)


@dataclass(frozen=True)
class LessonInfo:
    """What a Room keeps of its lesson (read when the Room opens)."""

    lesson_id: int
    title: str
    kind: LessonKind
    record: bool = False  # start recording when the Room opens
    host_classroom_id: int | None = None  # with several nodes: placed where its encoder waits

    @property
    def room_id(self) -> str:
        return f"lesson-{self.lesson_id}"


@dataclass
class Publication:
    info: PublicationInfo
    muted: bool = False  # by its publisher (or, a microphone, by the host)
    muted_by_host: bool = False  # then only the host unmutes it
    held: bool = False  # a hub camera other than the main one (cameras.py): not forwarded
    announced_muted: bool = False  # what everyone was last told

    def __post_init__(self) -> None:
        self.announced_muted = self.effectively_muted

    @property
    def effectively_muted(self) -> bool:
        return self.muted or self.held

    def out(self) -> wire.PublicationOut:
        return wire.PublicationOut(
            publication_id=self.info.publication_id, participant_id=self.info.participant_id,
            kind=self.info.kind, source=self.info.source, muted=self.effectively_muted)


class LiveRoom:
    def __init__(self, lesson: LessonInfo):
        """Use `LiveRoom.open`, which opens the media Room with this Room's event sink."""
        self.lesson = lesson
        self._media: Room | None = None
        self.participants: dict[str, Participant] = {}
        self._identities: dict[str, str] = {}  # identity -> participant id
        self.publications: dict[str, Publication] = {}
        self.floor: str | None = None
        self.main_camera: str | None = None  # the hub camera everyone sees (cameras.py)
        self.hands: dict[str, None] = {}  # ordered: oldest first
        self.chat: deque[wire.ChatMessageOut] = deque(maxlen=RECENT_CHAT)
        self.questions: dict[str, wire.QuestionOut] = {}
        self.counter = 0  # for message and question ids
        self.closed = False
        self._dirty = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.recorder: RoomRecorder | None = None  # with a RecordingStore: it can record
        self.dropped: dict[str, datetime] = {}  # classroom -> when it last left unplanned
        self.attendance: AttendanceSink | None = None  # told of every join and leave
        self.edge = False  # a cascade's edge: its programme comes from the lesson's origin node

    @classmethod
    async def open(cls, lesson: LessonInfo, service: MediaService,
                   recordings: RecordingStore | None = None,
                   attendance: AttendanceSink | None = None) -> LiveRoom:
        room = cls(lesson)
        room.attendance = attendance
        room._media = await service.open_room(lesson.room_id, room.on_media_event)
        if recordings is not None:
            room.recorder = RoomRecorder(lesson.lesson_id, room._media, recordings)
        room._worker = asyncio.create_task(room._sync_subscriptions(),
                                           name=f"kelian-sync-{lesson.room_id}")
        return room

    @property
    def media(self) -> Room:
        assert self._media is not None, "open a LiveRoom with LiveRoom.open"
        return self._media

    @property
    def kind(self) -> LessonKind:
        return self.lesson.kind

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    # Membership ------------------------------------------------------------------------------

    async def join(self, participant: Participant) -> wire.RoomState:
        if self.closed:
            raise SignalError(SignalErrorCode.lesson_not_live, "The lesson has ended")
        earlier = self._identities.get(participant.identity)
        if earlier is not None:  # the same terminal or person on a new socket: keep the new one
            previous = self.participants[earlier]
            previous.outbox.close(CloseCode.replaced, LeaveReason.replaced)
            await self.leave(earlier, LeaveReason.replaced)
            if self.closed:
                raise SignalError(SignalErrorCode.lesson_not_live, "The lesson has ended")
        # Told to those already here who see it; the joiner gets the room state.
        self._tell_about(participant, wire.ParticipantJoined(participant=participant.out()))
        self.participants[participant.participant_id] = participant
        self._identities[participant.identity] = participant.participant_id
        log.info("%s: %s joined as %s (%s)", self.lesson.room_id, participant.participant_id,
                 participant.role.value, participant.identity, extra=self._context(participant))
        self._attend(participant)
        self.resync()  # it receives what is already published
        return self.state_for(participant)

    async def leave(self, participant_id: str, reason: LeaveReason) -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        participant.left = True
        if self._identities.get(participant.identity) == participant_id:
            del self._identities[participant.identity]
        log.info("%s: %s left (%s)", self.lesson.room_id, participant_id, reason.value,
                 extra=self._context(participant) | {"reason": reason.value})
        self._attend(participant, reason)
        if participant.classroom is not None and reason in UNPLANNED_LEAVES:
            self.dropped[participant.classroom] = datetime.now(UTC)  # it should come back
        if self.floor == participant_id:
            self.floor = None
            self.broadcast(wire.FloorChanged(participant_id=None))
        if participant_id in self.hands:
            del self.hands[participant_id]
            self.broadcast(wire.HandLowered(participant_id=participant_id))
        if participant.on_stage:
            participant.on_stage = False
            self.broadcast(wire.StageChanged(participant_ids=self.stage()))
        self._tell_about(participant,
                         wire.ParticipantLeft(participant_id=participant_id, reason=reason))
        async with participant.media_lock:
            try:  # ends its Publications (PublicationRemoved events) and Subscriptions
                await self.media.remove_participant(participant_id, CloseReason.participant_left)
            except Exception:
                log.exception("%s: removing %s from the relay failed", self.lesson.room_id,
                              participant_id)
        self.resync()

    def _context(self, participant: Participant) -> dict[str, object]:
        """A participant's fields for structured logs (server/logs.py)."""
        return {"lesson_id": self.lesson.lesson_id, "room_id": self.lesson.room_id,
                "participant": participant.participant_id, "role": participant.role.value,
                "identity": participant.identity, "classroom": participant.classroom}

    def _attend(self, participant: Participant, left: LeaveReason | None = None) -> None:
        if self.attendance is None:
            return
        try:
            if left is None:
                self.attendance.joined(self.lesson.lesson_id, participant)
            else:
                self.attendance.left(self.lesson.lesson_id, participant, left)
        except Exception:  # a record missed must not break the Room
            log.exception("%s: attendance of %s failed", self.lesson.room_id,
                          participant.participant_id)

    def report(self, participant: Participant, report: ViewerReport) -> None:
        """A participant's own figures of what it receives, for the lesson's link quality."""
        if self.attendance is not None:
            self.attendance.reported(self.lesson.lesson_id, participant.participant_id, report)

    def stage(self) -> list[str]:
        return [p.participant_id for p in self.participants.values() if p.on_stage]

    def visible_participants(self, viewer: Participant) -> list[Participant]:
        return [p for p in self.participants.values()
                if p is not viewer and rules.sees(self.kind, viewer.role, p.role)]

    def _tell_about(self, subject: Participant, message: wire.Event) -> None:
        for participant in list(self.participants.values()):
            if participant is not subject and rules.sees(self.kind, participant.role,
                                                         subject.role):
                participant.outbox.send(message)

    def state_for(self, viewer: Participant) -> wire.RoomState:
        return wire.RoomState(
            lesson_id=self.lesson.lesson_id, title=self.lesson.title, kind=self.kind,
            you=viewer.out(),
            participants=[p.out() for p in self.visible_participants(viewer)],
            publications=[pub.out() for pub in self.publications.values()],
            floor=self.floor, hands=list(self.hands), stage=self.stage(),
            chat=list(self.chat), questions=list(self.questions.values()),
            recording=self.recording, main_camera=self.main_camera,
        )

    def broadcast(self, message: wire.Event) -> None:
        for participant in list(self.participants.values()):
            participant.outbox.send(message)

    def participant(self, participant_id: str) -> Participant:
        found = self.participants.get(participant_id)
        if found is None or not found.listed:
            raise SignalError(SignalErrorCode.not_found, f"No participant {participant_id} here")
        return found

    # Publishing and subscribing ----------------------------------------------------------------

    def stop_publishing(self, participant: Participant) -> None:
        """End its Publications now (e.g. sent back from the stage); it keeps receiving."""
        self._spawn(self._unpublish(participant.participant_id))

    async def _unpublish(self, participant_id: str) -> None:
        try:
            await self.media.unpublish(participant_id, CloseReason.requested)
        except Exception:
            if not self.closed:
                log.exception("%s: unpublishing %s failed", self.lesson.room_id, participant_id)

    async def publish(self, participant: Participant, sdp: str,
                      sources: dict[str, SourceLabel]) -> str:
        self._check_may_publish(participant, sources)
        try:
            return await self.media.publish(participant.participant_id, sdp, sources)
        except MediaError as err:
            raise media_failure(err) from None

    def adopt(self, participant: Participant, media: Room, media_id: str,
              sources: dict[str, SourceLabel]) -> None:
        """Take over the send Transport `participant` (already joined) has as `media_id` in
        another media Room of this node, connected (a WHIP encoder waiting for its lesson)."""
        self._check_may_publish(participant, sources)
        try:
            media.hand_over(media_id, self.media, participant.participant_id, sources)
        except MediaError as err:
            raise media_failure(err) from None

    def _check_may_publish(self, participant: Participant,
                           sources: dict[str, SourceLabel]) -> None:
        allowed = rules.allowed_sources(self.kind, participant.seat)
        if not allowed:
            raise SignalError(SignalErrorCode.forbidden,
                              f"A {participant.role.value} does not publish in a "
                              f"{self.kind.value} lesson"
                              + (" unless invited on stage" if participant.role
                                 in rules.STAGE_SEATS and self.kind is LessonKind.master_teacher
                                 else ""))
        refused = sorted({s.value for s in sources.values() if s not in allowed})
        if refused:
            raise SignalError(SignalErrorCode.forbidden,
                              f"A {participant.role.value} may not publish "
                              f"{', '.join(refused)} in a {self.kind.value} lesson")
        if participant.left or self.closed:
            raise SignalError(SignalErrorCode.not_joined, "You are no longer in the lesson")

    async def answer(self, participant: Participant, sdp: str) -> None:
        async with participant.media_lock:
            if participant.left:
                raise SignalError(SignalErrorCode.not_joined, "You are no longer in the lesson")
            if not participant.awaiting_answer:
                raise SignalError(SignalErrorCode.unexpected_answer,
                                  "No offer is waiting for an answer")
            try:
                await self.media.accept_answer(participant.participant_id, sdp)
            except MediaError as err:
                raise media_failure(err) from None
            participant.awaiting_answer = False
        self.resync()

    def wanted(self, viewer: Participant) -> frozenset[str]:
        """The Publications `viewer` receives now, by the lesson-kind rules."""
        if viewer.reception is not None:  # an encoder or a player (server/ingest)
            return frozenset(viewer.reception() & self.publications.keys())
        chosen = []
        for publication_id, publication in self.publications.items():
            publisher = self.participants.get(publication.info.participant_id)
            if publisher is not None and rules.receives(
                    self.kind, viewer.seat, publisher.seat, publication.info.source, self.floor):
                chosen.append(publication_id)
        return frozenset(chosen)

    def resync(self) -> None:
        """Recompute Subscriptions soon (coalesced: one pass covers many changes)."""
        self._dirty.set()

    async def _sync_subscriptions(self) -> None:
        while not self.closed:
            await self._dirty.wait()
            self._dirty.clear()
            for participant in list(self.participants.values()):
                if not participant.left and not participant.awaiting_answer:
                    try:
                        await self._sync(participant)
                    except Exception:  # one participant's failure must not stop the Room's
                        log.exception("%s: syncing %s failed", self.lesson.room_id,
                                      participant.participant_id)

    async def _sync(self, participant: Participant) -> None:
        async with participant.media_lock:
            wanted = self.wanted(participant)
            if participant.left or wanted == participant.subscribed:
                return
            try:
                offer = await self.media.subscribe(participant.participant_id, sorted(wanted))
            except MediaError as err:  # e.g. a publication ended meanwhile: its event resyncs
                log.info("%s: subscribing %s failed: %s", self.lesson.room_id,
                         participant.participant_id, err.message)
                return
            except Exception:
                if not participant.left and not self.closed:
                    log.exception("%s: subscribing %s failed", self.lesson.room_id,
                                  participant.participant_id)
                return
            participant.subscribed = wanted
            log.debug("%s: %s subscribed to %d publications (%s)", self.lesson.room_id,
                      participant.participant_id, len(wanted), "offer" if offer else "no offer")
            if offer is not None and not participant.left:
                participant.awaiting_answer = True
                participant.outbox.send(wire.OfferEvent(sdp=offer))

    # Recording ---------------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.active

    def _feeds(self) -> Feeds:
        # Held cameras are not recorded either: the recording shows what the classrooms saw.
        return choose_feeds((p.info, self.participants[p.info.participant_id].role)
                            for p in self.publications.values()
                            if p.info.participant_id in self.participants and not p.held)

    async def set_recording(self, on: bool, error: str | None = None) -> None:
        """Start or stop recording the lesson; everyone sees the red indicator change."""
        if self.recorder is None:
            raise SignalError(SignalErrorCode.forbidden, "Recording is not available here")
        if on:
            if self.closed:
                raise SignalError(SignalErrorCode.lesson_not_live, "The lesson has ended")
            changed = await self.recorder.start(self._feeds())
            self.recorder.update(self._feeds())  # what was published meanwhile
        else:
            changed = await self.recorder.stop(error)
        if changed and not self.closed:
            self.broadcast(wire.RecordingChanged(recording=on))

    def start_recording_soon(self) -> None:
        """Start recording in the background: the caller may hold the database (starting the
        lesson commits after the Room opens), and a lesson that cannot be recorded is still
        taught."""
        self._spawn(self._start_recording())

    async def _start_recording(self) -> None:
        try:
            await self.set_recording(True)
        except Exception:
            log.exception("%s: recording did not start", self.lesson.room_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def recording_feeds_changed(self) -> None:
        if self.recorder is not None:
            self.recorder.update(self._feeds())

    def _recording_failed(self, reason: str) -> None:
        log.warning("%s: recording failed: %s", self.lesson.room_id, reason)
        self._spawn(self._stop_failed_recording(reason))

    async def _stop_failed_recording(self, reason: str) -> None:
        try:
            await self.set_recording(False, error=reason)
        except Exception:
            log.exception("%s: stopping a failed recording failed", self.lesson.room_id)
        for participant in self.participants.values():
            if participant.role is rules.ParticipantRole.host:
                participant.outbox.send(wire.Notice(
                    code=NoticeCode.recording_failed,
                    message=f"Recording stopped: {reason}"))

    # Events from the media plane ---------------------------------------------------------------

    def on_media_event(self, event: MediaEvent) -> None:
        """The media Room's event sink: called synchronously from inside the relay."""
        try:
            self._on_media_event(event)
        except Exception:  # never break the relay's own work
            log.exception("%s: handling %r failed", self.lesson.room_id, event)

    def _on_media_event(self, event: MediaEvent) -> None:
        match event:
            case PublicationAdded(publication=info):
                self._publication_added(info)
            case PublicationRemoved(publication_id=publication_id):
                if self.publications.pop(publication_id, None) is not None:
                    self.broadcast(wire.PublicationRemoved(
                        publication_id=publication_id, participant_id=event.participant_id))
                    cameras.removed(self, publication_id)
                    self.resync()
                    self.recording_feeds_changed()
            case RecordingSegmentOpened(recording_id=rid, path=path, start_s=start_s):
                if self.recorder is not None:
                    self.recorder.note_segment(rid, path, start_s, None)
            case RecordingSegmentClosed(recording_id=rid, path=path, start_s=start_s):
                if self.recorder is not None:
                    self.recorder.note_segment(rid, path, start_s, event.duration_s)
            case RecordingFailed(reason=reason):
                self._recording_failed(reason)
            case TransportClosed(participant_id=participant_id, sending=True):
                self._notice(participant_id, NoticeCode.transport_failed,
                             "The media connection failed; publish again")
            case TransportClosed(participant_id=participant_id):
                participant = self.participants.get(participant_id)
                if participant is not None:  # the relay dropped its receive Transport
                    participant.subscribed = frozenset()
                    participant.awaiting_answer = False
                    self.resync()  # a new receive Transport and offer
            case ActiveSpeaker(participant_id=speaker):
                known = speaker is None or (speaker in self.participants
                                            and self.participants[speaker].listed)
                if known:
                    self.broadcast(wire.SpeakerActive(participant_id=speaker))
            case VideoPaused(participant_id=participant_id):
                self._notice(participant_id, NoticeCode.video_paused,
                             "Your connection is too slow for video: audio only for now")
            case VideoResumed(participant_id=participant_id):
                self._notice(participant_id, NoticeCode.video_resumed, "Video is back")

    def _publication_added(self, info: PublicationInfo) -> None:
        publisher = self.participants.get(info.participant_id)
        if publisher is None or self.closed:
            return  # it left meanwhile; the relay ends the Publication with it
        if not rules.may_publish(self.kind, publisher.seat, info.kind, info.source):
            log.warning("%s: %s published %s %s, which it may not; not forwarded",
                        self.lesson.room_id, info.participant_id, info.kind.value,
                        info.source.value)
            try:
                self.media.set_muted(info.publication_id, True)
            except MediaError:
                pass  # already gone
            self._notice(info.participant_id, NoticeCode.publication_refused,
                         f"Your {info.kind.value} track labelled {info.source.value} "
                         f"is not allowed and is not forwarded")
            return
        publication = Publication(info, muted=info.muted)
        self.publications[info.publication_id] = publication
        cameras.added(self, publication)
        self.broadcast(wire.PublicationAdded(publication=publication.out()))
        self.resync()
        self.recording_feeds_changed()

    def _notice(self, participant_id: str, code: NoticeCode, message: str) -> None:
        participant = self.participants.get(participant_id)
        if participant is not None:
            participant.outbox.send(wire.Notice(code=code, message=message))

    # Closing ---------------------------------------------------------------------------------

    async def close(self, reason: LeaveReason) -> None:
        """End the Room: every participant is told and its socket closed; media closes."""
        if self.closed:
            return
        self.closed = True
        code = _CLOSE_CODES.get(reason, CloseCode.normal)
        for participant in list(self.participants.values()):
            participant.left = True
            self._attend(participant, reason)
            if reason is LeaveReason.lesson_ended:
                participant.outbox.send(wire.LessonEnded(lesson_id=self.lesson.lesson_id))
            participant.outbox.close(code, reason)
        if self.recorder is not None:  # its files are closed before the Room's Transports
            try:
                await self.recorder.stop(handed_on=reason is LeaveReason.moved)
            except Exception:
                log.exception("%s: stopping the recording failed", self.lesson.room_id)
        self.participants.clear()
        self._identities.clear()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, *self._tasks, return_exceptions=True)
        media_reason = CloseReason.lesson_ended if reason is LeaveReason.lesson_ended \
            else CloseReason.room_closed
        try:
            await self.media.close(media_reason)
        except Exception:
            log.exception("%s: closing the media room failed", self.lesson.room_id)
        log.info("%s: closed (%s)", self.lesson.room_id, reason.value,
                 extra={"lesson_id": self.lesson.lesson_id, "room_id": self.lesson.room_id,
                        "reason": reason.value})
