"""WHIP ingest (RFC 9725): an encoder, OBS or a browser page publishes into its classroom's
running lesson as a participant `source:<id>`, subject to the lesson-kind rules. With no
lesson live it connects all the same and waits for one (standby.py).

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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..cluster.load import NodeLoad
from ..keys import LIVE, PLACEMENT, SESSIONS
from ..models import Classroom, Source, SourceKind
from ..signalling.codes import LeaveReason
from .common import (
    SDP,
    IngestError,
    bearer,
    created,
    endpoint,
    ice_server_links,
    patch_not_supported,
    preflight,
    read_sdp,
    reply,
    unauthorized,
)
from .nodes import from_node, lesson_node, pass_on, pass_to_session
from .publish import SourceInfo, SourceSeat, live_lesson
from .sessions import INGEST, Session, SessionKind
from .standby import STANDBY

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


@endpoint
async def publish(request: web.Request) -> web.StreamResponse:
    key = _check_key(request)
    async with request.app[SESSIONS]() as db:
        source = SourceInfo.of(await _source(db, key))
    offer = await read_sdp(request)
    node = await _lesson_node(request, source)
    if node is not None:  # its lesson is held by another node: published there
        await _replace_waiting(request, source)
        return await pass_on(request, node, offer.encode())
    registry, standby = request.app[INGEST], request.app[STANDBY]
    pushed = await from_node(request)  # a node pushing its waiting encoder (pushes.py)
    try:
        seat = await SourceSeat.prepare(request.app[LIVE], request.app[SESSIONS], source, offer)
    except IngestError as err:
        if err.status != 409 or pushed:
            raise
        return await _wait(request, key, source, offer)  # no lesson live: it waits for one
    await _replace_waiting(request, source)
    session = Session(SessionKind.whip, key, source.identity, seat.room, registry)
    participant = seat.participant(session)
    session.participant = participant
    registry.add(session)
    answer = await seat.publish(participant)  # on failure the session has ended
    if session.ended:  # the lesson ended, or the source published again, meanwhile
        raise IngestError(409, "the session ended while it was being set up")
    if not pushed:  # a pushed one ends with its lesson: the pushing node waits with it
        standby.track(session, source, offer)
    log.info("lesson %d: source %d publishes as %s (%s)", seat.lesson.lesson_id,
             source.source_id, participant.participant_id, seat.role.value,
             extra={"lesson_id": seat.lesson.lesson_id, "source_id": source.source_id,
                    "participant": participant.participant_id, "session": session.resource_id})
    return created(answer, session.location, session.etag,
                   ice_server_links(request, source.identity))


async def _lesson_node(request: web.Request, source: SourceInfo) -> NodeLoad | None:
    """With several nodes: the other node holding the Room of the classroom's live lesson.
    None: this node serves it, or no lesson is live (the encoder waits here)."""
    if request.app.get(PLACEMENT) is None:
        return None
    async with request.app[SESSIONS]() as db:
        try:
            lesson, _ = await live_lesson(db, source.classroom_id)
        except IngestError:
            return None
        lesson_id, host = lesson.id, lesson.host_classroom_id
    return await lesson_node(request, lesson_id, host)


async def _wait(request: web.Request, key: str, source: SourceInfo, offer: str
                ) -> web.StreamResponse:
    """No lesson of the classroom is live: connect the encoder and let it wait for one."""
    await _replace_waiting(request, source)
    registry = request.app[INGEST]
    session = Session(SessionKind.whip, key, source.identity, None, registry)
    answer = await request.app[STANDBY].wait(session, source, offer)
    registry.add(session)
    return created(answer, session.location, session.etag,
                   ice_server_links(request, source.identity))


async def _replace_waiting(request: web.Request, source: SourceInfo) -> None:
    """The same source publishing again replaces its waiting session (one in a lesson is
    replaced by the Room, as a participant joining again)."""
    for session in request.app[INGEST].of(SessionKind.whip, source.identity):
        if session.room is None:
            await session.stop(LeaveReason.replaced)


def _session(request: web.Request, key: str) -> Session | None:
    return request.app[INGEST].find(SessionKind.whip, key, request.match_info["resource"])


@endpoint
async def stop(request: web.Request) -> web.StreamResponse:
    session = _session(request, _check_key(request))
    if session is None:
        return await pass_to_session(request, "WHIP")
    await session.stop(LeaveReason.left)
    return reply(200)


@endpoint
async def patch(request: web.Request) -> web.StreamResponse:
    if _session(request, _check_key(request)) is None:
        return await pass_to_session(request, "WHIP")
    return patch_not_supported(request)


def setup(app: web.Application) -> None:
    app.router.add_route("POST", "/whip/{key}", publish)
    app.router.add_route("OPTIONS", "/whip/{key}",
                         preflight("POST, OPTIONS", {"Accept-Post": SDP}))
    app.router.add_route("DELETE", "/whip/{key}/{resource}", stop)
    app.router.add_route("PATCH", "/whip/{key}/{resource}", patch)
    app.router.add_route("OPTIONS", "/whip/{key}/{resource}", preflight("DELETE, OPTIONS"))
