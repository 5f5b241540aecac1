"""What participants do in a running lesson besides media: floor, hands, stage, chat,
questions, muting. Each checks the lesson-kind rules, changes the `LiveRoom` and tells everyone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from media.interface import MediaError, SourceLabel

from ..signalling import schema as wire
from ..signalling.codes import SignalError, SignalErrorCode
from . import cameras, rules
from .participant import Participant
from .room import MAX_QUESTIONS, LiveRoom, media_failure
from .rules import Action


def _forbidden(message: str) -> SignalError:
    return SignalError(SignalErrorCode.forbidden, message)


def require(room: LiveRoom, actor: Participant, action: Action, what: str) -> None:
    if not rules.may(room.kind, actor.role, action):
        raise _forbidden(f"A {actor.role.value} may not {what} in a {room.kind.value} lesson")


def _lower(room: LiveRoom, participant_id: str) -> None:
    if participant_id in room.hands:
        del room.hands[participant_id]
        room.broadcast(wire.HandLowered(participant_id=participant_id))


# Floor (dedicated) ---------------------------------------------------------------------------


def give_floor(room: LiveRoom, actor: Participant, participant_id: str) -> None:
    require(room, actor, Action.give_floor, "give the floor")
    target = room.participant(participant_id)
    if target.role not in rules.FLOOR_SEATS:
        raise _forbidden("Only a teaching point's classroom can be given the floor")
    _lower(room, target.participant_id)
    if room.floor != target.participant_id:
        room.floor = target.participant_id
        room.broadcast(wire.FloorChanged(participant_id=target.participant_id))
        room.resync()


def take_floor(room: LiveRoom, actor: Participant) -> None:
    require(room, actor, Action.give_floor, "take the floor back")
    if room.floor is not None:
        room.floor = None
        room.broadcast(wire.FloorChanged(participant_id=None))
        room.resync()


# Hands ---------------------------------------------------------------------------------------


def raise_hand(room: LiveRoom, actor: Participant) -> None:
    require(room, actor, Action.raise_hand, "raise a hand")
    if actor.participant_id not in room.hands:
        room.hands[actor.participant_id] = None
        room.broadcast(wire.HandRaised(participant_id=actor.participant_id))


def lower_hand(room: LiveRoom, actor: Participant, participant_id: str | None) -> None:
    if participant_id is None or participant_id == actor.participant_id:
        _lower(room, actor.participant_id)
        return
    require(room, actor, Action.lower_hands, "lower another participant's hand")
    _lower(room, room.participant(participant_id).participant_id)


# Stage (master_teacher) ----------------------------------------------------------------------


def set_stage(room: LiveRoom, actor: Participant, participant_id: str, on_stage: bool) -> None:
    require(room, actor, Action.manage_stage, "change who is on stage")
    target = room.participant(participant_id)
    if target.role not in rules.STAGE_SEATS:
        raise _forbidden("Only observers and receiving classrooms go on stage")
    if on_stage:
        _lower(room, target.participant_id)
    if target.on_stage != on_stage:
        target.on_stage = on_stage
        room.broadcast(wire.StageChanged(participant_ids=room.stage()))
        room.resync()  # its Publications reach everyone, or no one
        if not on_stage:  # off the stage it may not publish: end what it published
            room.stop_publishing(target)


# Chat and questions --------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def send_chat(room: LiveRoom, actor: Participant, text: str) -> str:
    require(room, actor, Action.chat, "chat")
    line = wire.ChatMessageOut(message_id=room.next_id("m"), participant_id=actor.participant_id,
                               name=actor.name, text=text, at=_now())
    room.chat.append(line)
    room.broadcast(wire.ChatMessage(message=line))
    return line.message_id


def ask_question(room: LiveRoom, actor: Participant, text: str) -> str:
    require(room, actor, Action.ask_question, "ask questions")
    return ask_for(room, actor.participant_id, actor.name, actor.classroom, text)


def ask_for(room: LiveRoom, participant_id: str, name: str, classroom: str | None,
            text: str) -> str:
    """A question asked in the Room, also for a participant of a cascade's edge (whose node
    checked the rules): everyone present is told."""
    question = wire.QuestionOut(
        question_id=room.next_id("q"), participant_id=participant_id, name=name,
        classroom=classroom, text=text, at=_now(), answer=None, highlighted=False)
    mirror_question(room, wire.QuestionAsked(question=question))
    return question.question_id


QuestionEvent = wire.QuestionAsked | wire.QuestionAnswered | wire.QuestionHighlighted


def mirror_question(room: LiveRoom, event: QuestionEvent) -> None:
    """Apply a question event to the Room's questions and tell everyone: in the Room that
    holds the lesson, or from it in a cascade's edge."""
    match event:
        case wire.QuestionAsked(question=question):
            if len(room.questions) >= MAX_QUESTIONS:  # the oldest make way
                del room.questions[next(iter(room.questions))]
            room.questions[question.question_id] = question
        case wire.QuestionAnswered(question=question):
            room.questions[question.question_id] = question
        case wire.QuestionHighlighted(question_id=question_id, highlighted=highlighted):
            if question_id in room.questions:
                room.questions[question_id] = room.questions[question_id].model_copy(
                    update={"highlighted": highlighted})
    room.broadcast(event)


def _question(room: LiveRoom, question_id: str) -> wire.QuestionOut:
    question = room.questions.get(question_id)
    if question is None:
        raise SignalError(SignalErrorCode.not_found, f"No question {question_id}")
    return question


def answer_question(room: LiveRoom, actor: Participant, question_id: str, text: str) -> None:
    require(room, actor, Action.answer_question, "answer questions")
    question = _question(room, question_id).model_copy(update={"answer": text})
    mirror_question(room, wire.QuestionAnswered(question=question))


def highlight_question(room: LiveRoom, actor: Participant, question_id: str,
                       highlighted: bool) -> None:
    require(room, actor, Action.answer_question, "highlight questions")
    _question(room, question_id)
    mirror_question(room, wire.QuestionHighlighted(question_id=question_id,
                                                   highlighted=highlighted))


# Muting --------------------------------------------------------------------------------------


def mute(room: LiveRoom, actor: Participant, publication_id: str, muted: bool) -> None:
    publication = room.publications.get(publication_id)
    if publication is None:
        raise SignalError(SignalErrorCode.not_found, f"No publication {publication_id} here")
    by_host = publication.info.participant_id != actor.participant_id
    if by_host:
        if not rules.may(room.kind, actor.role, Action.mute_others):
            raise _forbidden("You may mute only your own publications")
        if publication.info.source is not SourceLabel.microphone:
            raise _forbidden("The host mutes other participants' microphones only")
    elif not muted and publication.muted_by_host:
        # The teacher keeps order in the lesson: a classroom the teacher muted speaks again when
        # the teacher unmutes it, not by itself.
        raise _forbidden("The teacher muted your microphone; raise your hand to speak")
    publication.muted_by_host = muted and (by_host or publication.muted_by_host)
    publication.muted = muted
    try:  # a held camera stays held (cameras.py): unmuting it shows it once it is main
        cameras.apply(room, publication, actor.participant_id)
    except MediaError as err:
        raise media_failure(err) from None


def main_camera(room: LiveRoom, actor: Participant, publication_id: str | None) -> None:
    cameras.choose(room, actor, publication_id)
