"""The dispatch table: one handler per client message type.

A handler gets the connection and the validated message and returns the `ok` reply (or None
when it replied itself); it raises `SignalError` to refuse.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import audit
from ..audit import AuditTag
from ..auth.resolve import from_bearer
from ..cluster.cascade import EDGES
from ..cluster.routing import NoNode
from ..keys import LIVE, PLACEMENT, SESSIONS, SETTINGS
from ..live import actions
from ..live.admission import admit
from ..live.attendance import ViewerReport
from ..live.ice import ice_servers, ice_transport_policy
from ..live.participant import Participant
from ..live.room import LiveRoom
from ..live.rules import HUB, Action, ParticipantRole
from ..models import LessonKind
from ..services.lessons import mark_ended
from . import schema as s
from .codes import CloseCode, LeaveReason, SignalError, SignalErrorCode

if TYPE_CHECKING:
    from .connection import Connection

Handler = Callable[["Connection", Any], Awaitable[s.Ok | None]]
OK = s.Ok()


def _in_room(conn: Connection) -> tuple[LiveRoom, Participant]:
    if conn.room is None or conn.participant is None or conn.participant.left:
        raise SignalError(SignalErrorCode.not_joined, "Join a lesson first")
    return conn.room, conn.participant


async def auth(conn: Connection, msg: s.Auth) -> s.Ok:
    if conn.principal.is_authenticated:
        raise SignalError(SignalErrorCode.already_authenticated, "Already authenticated")
    async with conn.app[SESSIONS]() as db:
        found = await from_bearer(db, msg.token)
        await db.commit()  # keeps a terminal's last_seen_at
    if found is None:
        raise SignalError(SignalErrorCode.unauthenticated, "The token is unknown, expired or revoked")
    conn.principal = found
    return OK


async def join(conn: Connection, msg: s.Join) -> s.Ok | None:
    if conn.participant is not None:
        raise SignalError(SignalErrorCode.already_joined, "This socket is in a lesson already")
    async with conn.app[SESSIONS]() as db:
        admission = await admit(db, conn.principal, msg.lesson_id)
    placement = conn.app.get(PLACEMENT)
    edge = conn.routed == "edge"  # another node routed it here (as the origin, or an edge)
    # A broadcast's receivers may be served by other nodes than the origin (the cascade); the
    # routing counts them where it sends them, the serving node uncounts them when they leave.
    cascade = placement is not None and admission.lesson.kind is LessonKind.famous_school \
        and admission.role not in HUB
    if placement is not None and conn.routed is None:
        try:
            route = await placement.route(msg.lesson_id, cascade)
        except NoNode:  # this node drains and no other can take it yet
            conn.close(CloseCode.going_away, LeaveReason.moved)
            return None
        if route.node is not None:  # another node serves it: it admits and answers
            if not await conn.forward(route.node, edge=route.edge) and cascade:
                await placement.uncount(msg.lesson_id, route.node.node_id)
            return None
        edge = route.edge
    if admission.role is ParticipantRole.inspector:  # every inspection is on record
        async with conn.app[SESSIONS]() as db:
            audit.record(db, AuditTag.lesson_inspected, conn.principal,
                         f"lesson:{msg.lesson_id}")
            await db.commit()
    if edge and EDGES in conn.app:
        room = await conn.app[EDGES].ensure(admission.lesson)
    else:
        room = await conn.app[LIVE].ensure(admission.lesson)
    participant = Participant(identity=conn.principal.audit_name, name=admission.name,
                              role=admission.role, classroom=admission.classroom, outbox=conn)
    state = await room.join(participant)
    conn.room, conn.participant = room, participant
    if cascade:
        conn.counted = msg.lesson_id
    settings = conn.app[SETTINGS]
    servers = [s.IceServerOut(**server) for server in ice_servers(settings, participant.identity)]
    return s.Ok(room=state, ice_servers=servers,
                ice_transport_policy=ice_transport_policy(settings))


async def publish(conn: Connection, msg: s.Publish) -> s.Ok:
    room, me = _in_room(conn)
    return s.Ok(sdp=await room.publish(me, msg.sdp, dict(msg.sources)))


async def answer(conn: Connection, msg: s.Answer) -> s.Ok:
    room, me = _in_room(conn)
    await room.answer(me, msg.sdp)
    return OK


async def mute(conn: Connection, msg: s.Mute) -> s.Ok:
    actions.mute(*_in_room(conn), msg.publication_id, msg.muted)
    return OK


async def floor_give(conn: Connection, msg: s.FloorGive) -> s.Ok:
    actions.give_floor(*_in_room(conn), msg.participant_id)
    return OK


async def floor_take(conn: Connection, msg: s.FloorTake) -> s.Ok:
    actions.take_floor(*_in_room(conn))
    return OK


async def hand_raise(conn: Connection, msg: s.HandRaise) -> s.Ok:
    actions.raise_hand(*_in_room(conn))
    return OK


async def main_camera(conn: Connection, msg: s.MainCamera) -> s.Ok:
    actions.main_camera(*_in_room(conn), msg.publication_id)
    return OK


async def stats_report(conn: Connection, msg: s.StatsReport) -> s.Ok:
    room, participant = _in_room(conn)
    room.report(participant, ViewerReport(msg.fps, msg.freezes, msg.freeze_ms))
    return OK


async def hand_lower(conn: Connection, msg: s.HandLower) -> s.Ok:
    actions.lower_hand(*_in_room(conn), msg.participant_id)
    return OK


async def stage_invite(conn: Connection, msg: s.StageInvite) -> s.Ok:
    actions.set_stage(*_in_room(conn), msg.participant_id, on_stage=True)
    return OK


async def stage_remove(conn: Connection, msg: s.StageRemove) -> s.Ok:
    actions.set_stage(*_in_room(conn), msg.participant_id, on_stage=False)
    return OK


async def chat_send(conn: Connection, msg: s.ChatSend) -> s.Ok:
    return s.Ok(message_id=actions.send_chat(*_in_room(conn), msg.text))


async def question_ask(conn: Connection, msg: s.QuestionAsk) -> s.Ok:
    room, me = _in_room(conn)
    if room.edge:  # a cascade's edge: the lesson's origin keeps the questions
        return s.Ok(question_id=await conn.app[EDGES].ask(room, me, msg.text))
    return s.Ok(question_id=actions.ask_question(room, me, msg.text))


async def question_answer(conn: Connection, msg: s.QuestionAnswer) -> s.Ok:
    actions.answer_question(*_in_room(conn), msg.question_id, msg.text)
    return OK


async def question_highlight(conn: Connection, msg: s.QuestionHighlight) -> s.Ok:
    actions.highlight_question(*_in_room(conn), msg.question_id, msg.highlighted)
    return OK


async def lesson_end(conn: Connection, msg: s.LessonEnd) -> None:
    room, me = _in_room(conn)
    actions.require(room, me, Action.end_lesson, "end the lesson")
    async with conn.app[SESSIONS]() as db:  # as POST /api/v1/lessons/{id}/end does
        await mark_ended(db, conn.principal, room.lesson.lesson_id)
    conn.reply(msg.id, OK)  # before the Room closes this socket
    await conn.app[LIVE].end(room.lesson.lesson_id)
    return None


async def recording_set(conn: Connection, msg: s.RecordingSet) -> s.Ok:
    room, me = _in_room(conn)
    actions.require(room, me, Action.record, "start or stop recording")
    await room.set_recording(msg.recording)
    return OK


async def leave(conn: Connection, msg: s.Leave) -> None:
    room, me = _in_room(conn)
    conn.reply(msg.id, OK)
    conn.room = conn.participant = None
    await room.leave(me.participant_id, LeaveReason.left)
    conn.close(CloseCode.normal, LeaveReason.left)
    return None


async def ping(conn: Connection, msg: s.Ping) -> s.Ok:
    return OK


HANDLERS: dict[str, Handler] = {
    "auth": auth,
    "join": join,
    "publish": publish,
    "answer": answer,
    "mute": mute,
    "floor.give": floor_give,
    "floor.take": floor_take,
    "hand.raise": hand_raise,
    "hand.lower": hand_lower,
    "stage.invite": stage_invite,
    "stage.remove": stage_remove,
    "chat.send": chat_send,
    "question.ask": question_ask,
    "question.answer": question_answer,
    "question.highlight": question_highlight,
    "lesson.end": lesson_end,
    "recording.set": recording_set,
    "camera.main": main_camera,
    "stats.report": stats_report,
    "leave": leave,
    "ping": ping,
}
