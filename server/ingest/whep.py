"""WHEP egress: a player or hardware decoder receives a running lesson's main programme.

    POST    /whep/{lesson_id}[?publication=<id>]   application/sdp offer -> 201 + answer
    DELETE  /whep/{lesson_id}/{resource}           stop playing
    PATCH   /whep/{lesson_id}/{resource}           405: no trickle ICE, no ICE restart
    OPTIONS either path                            CORS preflight

The caller sends `Authorization: Bearer <terminal or API token>` and is admitted as on /ws
(server/live/admission.py). Its recvonly offer is answered by the relay itself (the player's
m-lines are fixed by its offer) and fed, forwarded not re-encoded, with the main programme: the
teacher's camera and microphone, else the hub classroom's (the same choice as the Recording's),
and courseware on a second video m-line. When the teacher's page reconnects, the m-lines switch
to the new Publications and the player keeps playing. `?publication=` names one Publication
instead, one the caller's seat would receive by the lesson-kind rules. See docs/whip-whep.md.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from media.interface import MediaError

from .. import audit
from ..audit import AuditTag
from ..auth.principal import Principal
from ..auth.resolve import from_bearer
from ..keys import LIVE, SESSIONS
from ..live import rules
from ..live.admission import admit
from ..live.participant import Participant
from ..live.recording import choose_feeds
from ..live.room import LiveRoom, media_failure
from ..signalling.codes import LeaveReason, SignalError
from .common import (
    SDP,
    IngestError,
    bearer,
    created,
    endpoint,
    ice_server_links,
    offered_media,
    patch_not_supported,
    preflight,
    read_sdp,
    reply,
    signal_status,
    unauthorized,
)
from .nodes import lesson_node, pass_on, pass_to_session
from .sessions import INGEST, Session, SessionKind, Sessions

log = logging.getLogger("kelian.ingest.whep")


def programme(room: LiveRoom) -> frozenset[str]:
    """The main programme's Publications: the hub's camera, courseware and microphone."""
    feeds = choose_feeds((p.info, room.participants[p.info.participant_id].role)
                         for p in room.publications.values()
                         if p.info.participant_id in room.participants)
    return frozenset(p for p in feeds.values() if p is not None)


async def _principal(request: web.Request) -> Principal:
    token = bearer(request)
    if token is None:
        raise unauthorized("send a terminal or API token as 'Authorization: Bearer <token>'")
    async with request.app[SESSIONS]() as db:
        who = await from_bearer(db, token)
        await db.commit()  # keeps a terminal's last_seen_at
    if who is None:
        raise unauthorized("the token is unknown, expired or revoked")
    return who


def _lesson_id(request: web.Request) -> int:
    raw = request.match_info["lesson_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise IngestError(404, f"no lesson with id {raw!r}")
    return int(raw)


def _reception(room: LiveRoom, participant: Participant, publication_id: str | None
               ) -> Callable[[], frozenset[str]]:
    """What the player receives: the main programme, or the one Publication it named."""
    if publication_id is None:
        return lambda: programme(room)
    publication = room.publications.get(publication_id)
    if publication is None:
        raise IngestError(404, f"no publication {publication_id!r} in this lesson")
    publisher = room.participants.get(publication.info.participant_id)
    allowed = publication_id in programme(room) or publisher is not None and rules.receives(
        room.kind, participant.seat, publisher.seat, publication.info.source, room.floor)
    if not allowed:
        raise IngestError(403, f"a {participant.role.value} does not receive "
                               f"{publication_id} in this lesson")
    named = frozenset({publication_id})
    return lambda: named


@endpoint
async def play(request: web.Request) -> web.StreamResponse:
    lesson_id = _lesson_id(request)
    who = await _principal(request)
    offer = await read_sdp(request)
    offered_media(offer, publishing=False)  # refused early, before anyone is admitted
    async with request.app[SESSIONS]() as db:
        try:
            admission = await admit(db, who, lesson_id)
        except SignalError as err:
            raise IngestError(*signal_status(err)) from None
    node = await lesson_node(request, lesson_id)
    if node is not None:  # admitted there again, and audited there
        return await pass_on(request, node, offer.encode())
    if admission.role is rules.ParticipantRole.inspector:  # every inspection is on record
        async with request.app[SESSIONS]() as db:
            audit.record(db, AuditTag.lesson_inspected, who, f"lesson:{lesson_id}", via="whep")
            await db.commit()
    try:
        room = await request.app[LIVE].ensure(admission.lesson)
    except SignalError as err:
        raise IngestError(*signal_status(err)) from None

    on_end = _inspection_ended(request.app, who, lesson_id) \
        if admission.role is rules.ParticipantRole.inspector else None
    session, answer = await attach_player(
        request.app[INGEST], room, who.audit_name, f"{admission.name} (WHEP)", admission.role,
        admission.classroom, offer, request.query.get("publication"), on_end=on_end)
    participant = session.participant
    assert participant is not None
    wanted = participant.subscribed
    log.info("lesson %d: %s plays as %s (%d publications)", lesson_id, who.audit_name,
             participant.participant_id, len(wanted),
             extra={"lesson_id": lesson_id, "principal": who.audit_name,
                    "participant": participant.participant_id, "session": session.resource_id})
    return created(answer, session.location, session.etag,
                   ice_server_links(request, who.audit_name))


async def attach_player(registry: Sessions, room: LiveRoom, principal: str, name: str,
                        role: rules.ParticipantRole, classroom: str | None, offer: str,
                        publication: str | None = None, identity: str | None = None,
                        on_end: Callable[[Session, LeaveReason], Awaitable[None]] | None = None
                        ) -> tuple[Session, str]:
    """A player of the Room's main programme (or of one named Publication) behind a WHEP
    Session: joined, its offer answered; nothing is left behind on failure (IngestError)."""
    session = Session(SessionKind.whep, str(room.lesson.lesson_id), principal, room, registry,
                      on_end=on_end)
    participant = Participant(identity=identity or f"whep:{session.resource_id}", name=name,
                              role=role, classroom=classroom, outbox=session)
    participant.reception = _reception(room, participant, publication)
    session.participant = participant
    registry.add(session)
    try:
        # Held so the Room's own Subscription pass waits until the player's Transport exists.
        async with participant.media_lock:
            await room.join(participant)
            wanted = room.wanted(participant)
            try:
                answer = await room.media.subscribe_answer(participant.participant_id, offer,
                                                           sorted(wanted))
            except MediaError as err:
                raise media_failure(err) from None
            participant.subscribed = wanted
    except SignalError as err:
        await session.stop(LeaveReason.left)  # nothing is left behind
        raise IngestError(*signal_status(err)) from None
    except BaseException:
        await session.stop(LeaveReason.left)
        raise
    if session.ended:  # the lesson ended meanwhile
        raise IngestError(409, "the session ended while it was being set up")
    return session, answer


def _inspection_ended(app: web.Application, who: Principal, lesson_id: int
                      ) -> Callable[[Session, LeaveReason], Awaitable[None]]:
    async def record(session: Session, reason: LeaveReason) -> None:
        async with app[SESSIONS]() as db:
            audit.record(db, AuditTag.inspection_ended, who, f"lesson:{lesson_id}",
                         reason=reason.value, via="whep")
            await db.commit()
    return record


async def _own_session(request: web.Request) -> Session | None:
    """The request's Session, if it is on this node."""
    who = await _principal(request)
    session = request.app[INGEST].find(SessionKind.whep, request.match_info["lesson_id"],
                                       request.match_info["resource"])
    if session is not None and session.principal != who.audit_name:
        raise IngestError(403, "this WHEP session was started with other credentials")
    return session


@endpoint
async def stop(request: web.Request) -> web.StreamResponse:
    session = await _own_session(request)
    if session is None:
        return await pass_to_session(request, "WHEP")
    await session.stop(LeaveReason.left)
    return reply(200)


@endpoint
async def patch(request: web.Request) -> web.StreamResponse:
    if await _own_session(request) is None:
        return await pass_to_session(request, "WHEP")
    return patch_not_supported(request)


def setup(app: web.Application) -> None:
    app.router.add_route("POST", "/whep/{lesson_id}", play)
    app.router.add_route("OPTIONS", "/whep/{lesson_id}",
                         preflight("POST, OPTIONS", {"Accept-Post": SDP}))
    app.router.add_route("DELETE", "/whep/{lesson_id}/{resource}", stop)
    app.router.add_route("PATCH", "/whep/{lesson_id}/{resource}", patch)
    app.router.add_route("OPTIONS", "/whep/{lesson_id}/{resource}", preflight("DELETE, OPTIONS"))
