"""WHIP ingest (RFC 9725): an encoder, OBS or a browser page publishes into its classroom's
running lesson as a participant `source:<id>`, subject to the lesson-kind rules.

    POST    /whip/{stream_key}               application/sdp offer -> 201 + answer
    DELETE  /whip/{stream_key}/{resource}    end the publication
    PATCH   /whip/{stream_key}/{resource}    405: no trickle ICE, no ICE restart
    OPTIONS either path                      CORS preflight

Every request but OPTIONS carries `Authorization: Bearer <stream key>`, the same key as in the
path, of an enabled Source of kind `whip`. See docs/whip-whep.md.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from media.interface import SourceLabel

from ..keys import LIVE, SESSIONS
from ..live.participant import Participant
from ..live.room import LessonInfo
from ..live.rules import HUB, ParticipantRole, Seat, allowed_sources
from ..models import Classroom, Lesson, LessonStatus, Source, SourceKind, SourceRole
from ..signalling.codes import LeaveReason, SignalError
from .common import (
    SDP,
    IngestError,
    bearer,
    created,
    endpoint,
    patch_not_supported,
    preflight,
    read_sdp,
    reply,
    signal_status,
    unauthorized,
)
from .sdp import MediaSection, media_sections
from .sessions import INGEST, Session, SessionKind

log = logging.getLogger("kelian.ingest.whip")


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def _check_key(request: web.Request) -> str:
    """The path's stream key, once the bearer token equals it (compared in constant time)."""
    key = request.match_info["key"]
    token = bearer(request)
    if token is None:
        raise unauthorized("send the source's stream key as 'Authorization: Bearer <key>'")
    if not _same(token, key):
        raise unauthorized("the bearer token is not the stream key in the URL")
    return key


async def _source(db: AsyncSession, key: str) -> Source:
    source = await db.scalar(
        select(Source).where(Source.stream_key == key)
        .options(selectinload(Source.classroom).selectinload(Classroom.school)))
    # Compared again: a database may compare strings without regard to case.
    if source is None or source.kind is not SourceKind.whip or source.stream_key is None \
            or not _same(source.stream_key, key):
        raise unauthorized("no WHIP source has this stream key")
    if not source.enabled:
        raise IngestError(403, f"the source {source.name!r} is disabled")
    return source


async def _live_lesson(db: AsyncSession, classroom_id: int) -> tuple[Lesson, ParticipantRole]:
    """The classroom's running lesson (the one it hosts first, then the latest started)."""
    lessons = (await db.scalars(
        select(Lesson).where(Lesson.status == LessonStatus.live, or_(
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


def _labels(sections: list[MediaSection], source_role: SourceRole, seat: ParticipantRole
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


@endpoint
async def publish(request: web.Request) -> web.StreamResponse:
    key = _check_key(request)
    async with request.app[SESSIONS]() as db:
        source = await _source(db, key)
        source_id, name, source_role = source.id, source.name, source.role
        classroom_id = source.classroom_id
        classroom = f"{source.classroom.school.name} · {source.classroom.name}"
    offer = await read_sdp(request)
    try:
        sections = media_sections(offer)
    except ValueError as err:
        raise IngestError(400, f"malformed SDP offer: {err}") from None
    if not any(section.sends for section in sections):
        raise IngestError(400, "the offer sends no audio or video (its m-lines must be "
                               "sendonly)")
    async with request.app[SESSIONS]() as db:
        lesson, role = await _live_lesson(db, classroom_id)
        info = LessonInfo(lesson.id, lesson.title, lesson.kind, lesson.record)
    labels = _labels(sections, source_role, role)
    # Refused before joining, so the lesson sees no encoder come and go (the Room checks again).
    allowed = allowed_sources(info.kind, Seat(f"source:{source_id}", role))
    refused = sorted({label.value for label in labels.values() if label not in allowed})
    if not allowed or refused:
        raise IngestError(403, f"a {role.value} may not publish {', '.join(refused) or 'media'} "
                               f"in a {info.kind.value} lesson")
    try:
        room = await request.app[LIVE].ensure(info)
    except SignalError as err:
        raise IngestError(*signal_status(err)) from None
    registry = request.app[INGEST]
    session = Session(SessionKind.whip, key, f"source:{source_id}", room, registry)
    # An encoder receives nothing. The same source publishing again replaces this one.
    participant = Participant(identity=f"source:{source_id}", name=name, role=role,
                              classroom=classroom, outbox=session, reception=frozenset)
    session.participant = participant
    registry.add(session)
    try:
        await room.join(participant)
        answer = await room.publish(participant, offer, labels)
    except SignalError as err:
        await session.stop(LeaveReason.left)  # nothing is left behind
        raise IngestError(*signal_status(err)) from None
    except BaseException:
        await session.stop(LeaveReason.left)
        raise
    if session.ended:  # the lesson ended, or the source published again, meanwhile
        raise IngestError(409, "the session ended while it was being set up")
    log.info("lesson %d: source %d publishes as %s (%s)", info.lesson_id, source_id,
             participant.participant_id, role.value)
    return created(answer, session.location, session.etag)


def _session(request: web.Request, key: str) -> Session:
    session = request.app[INGEST].find(SessionKind.whip, key, request.match_info["resource"])
    if session is None:
        raise IngestError(404, "no such WHIP session (it ended, or the lesson did)")
    return session


@endpoint
async def stop(request: web.Request) -> web.StreamResponse:
    session = _session(request, _check_key(request))
    await session.stop(LeaveReason.left)
    return reply(200)


@endpoint
async def patch(request: web.Request) -> web.StreamResponse:
    _session(request, _check_key(request))
    return patch_not_supported(request)


def setup(app: web.Application) -> None:
    app.router.add_route("POST", "/whip/{key}", publish)
    app.router.add_route("OPTIONS", "/whip/{key}",
                         preflight("POST, OPTIONS", {"Accept-Post": SDP}))
    app.router.add_route("DELETE", "/whip/{key}/{resource}", stop)
    app.router.add_route("PATCH", "/whip/{key}/{resource}", patch)
    app.router.add_route("OPTIONS", "/whip/{key}/{resource}", preflight("DELETE, OPTIONS"))
