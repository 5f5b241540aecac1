"""The signalling schema: one envelope, tagged messages, one discriminated union per direction.

Every frame is a JSON object `{"v": 1, "type": "...", ...}`. A client message may carry an `id`
(a number or short string), echoed by its `ok` or `error` reply. Server events are typed
`event.<name>` and carry no id. `python -m server.signalling.schema` prints the JSON Schema that
docs/signalling.schema.json holds (a test keeps them equal).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, RootModel, StringConstraints
from pydantic.json_schema import models_json_schema

from media.interface import SourceLabel, TrackKind

from ..live.rules import ParticipantRole
from ..models import LessonKind
from .codes import CloseCode, LeaveReason, NoticeCode, SignalErrorCode

VERSION = 1
MAX_TEXT = 500
MAX_SDP = 60_000

RequestId = Annotated[int, Field(ge=0, le=2**53)] | Annotated[str, StringConstraints(max_length=64)]
ParticipantId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PublicationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
QuestionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Mid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Sdp = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SDP)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = VERSION


# Client to server ------------------------------------------------------------------------------


class Request(Message):
    id: RequestId | None = Field(default=None, description="Echoed by the reply")


class Auth(Request):
    """First message of a terminal or API client (a browser's session cookie needs none)."""

    type: Literal["auth"]
    token: Token = Field(description="A terminal token `kt_…` or an API token `ka_…`")


class Join(Request):
    """Enter the Room of a live lesson; the reply carries the room state."""

    type: Literal["join"]
    lesson_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class Publish(Request):
    """The send transport's offer; the reply carries the relay's answer (`sdp`)."""

    type: Literal["publish"]
    sdp: Sdp
    sources: dict[Mid, SourceLabel] = Field(max_length=16,
                                            description="What each offered m-line carries, by mid")


class Answer(Request):
    """The receive transport's answer to the last `event.offer`."""

    type: Literal["answer"]
    sdp: Sdp


class Mute(Request):
    """Stop or resume one of your publications; the host may mute another's microphone."""

    type: Literal["mute"]
    publication_id: PublicationId
    muted: bool


class FloorGive(Request):
    """Host, dedicated lessons: every room sees and hears this teaching point."""

    type: Literal["floor.give"]
    participant_id: ParticipantId


class FloorTake(Request):
    """Host, dedicated lessons: take the floor back."""

    type: Literal["floor.take"]


class HandRaise(Request):
    type: Literal["hand.raise"]


class HandLower(Request):
    """Lower your hand; the host may name another participant's."""

    type: Literal["hand.lower"]
    participant_id: ParticipantId | None = None


class StageInvite(Request):
    """Host, master_teacher lessons: the participant may publish camera and microphone."""

    type: Literal["stage.invite"]
    participant_id: ParticipantId


class StageRemove(Request):
    type: Literal["stage.remove"]
    participant_id: ParticipantId


class ChatSend(Request):
    """A chat line (comments in master_teacher lessons)."""

    type: Literal["chat.send"]
    text: Text


class QuestionAsk(Request):
    """Receiving classrooms and observers, famous_school lessons."""

    type: Literal["question.ask"]
    text: Text


class QuestionAnswer(Request):
    type: Literal["question.answer"]
    question_id: QuestionId
    text: Text


class QuestionHighlight(Request):
    type: Literal["question.highlight"]
    question_id: QuestionId
    highlighted: bool = True


class LessonEnd(Request):
    """Host: end the lesson for everyone (as POST /api/v1/lessons/{id}/end)."""

    type: Literal["lesson.end"]


class RecordingSet(Request):
    """Host: start (true) or stop (false) recording the lesson."""

    type: Literal["recording.set"]
    recording: bool


class MainCamera(Request):
    """Host: the hub camera everyone sees (null: all of them); the others are not forwarded."""

    type: Literal["camera.main"]
    publication_id: PublicationId | None


class StatsReport(Request):
    """What a participant's own browser measures of what it receives (a classroom terminal's
    getStats, every few seconds): the main video's frame rate, and its freezes since the last
    report. Stored with the relay's figures in the lesson's link quality."""

    type: Literal["stats.report"]
    fps: float | None = Field(default=None, ge=0, le=240)
    freezes: int = Field(default=0, ge=0, le=1000)
    freeze_ms: int = Field(default=0, ge=0, le=600_000)


class Leave(Request):
    """Leave the Room; the server closes the socket (1000)."""

    type: Literal["leave"]


class Ping(Request):
    type: Literal["ping"]


ClientMessage = Annotated[
    Auth | Join | Publish | Answer | Mute | FloorGive | FloorTake | HandRaise | HandLower
    | StageInvite | StageRemove | ChatSend | QuestionAsk | QuestionAnswer | QuestionHighlight
    | LessonEnd | RecordingSet | MainCamera | StatsReport | Leave | Ping,
    Field(discriminator="type"),
]


class ClientMessages(RootModel[ClientMessage]):
    """Any message a client sends."""


# Shapes inside server messages ---------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ParticipantOut(Out):
    participant_id: str
    name: str
    role: ParticipantRole
    classroom: str | None = Field(description="The classroom of a terminal, with its school")


class PublicationOut(Out):
    publication_id: str
    participant_id: str
    kind: TrackKind
    source: SourceLabel
    muted: bool


class ChatMessageOut(Out):
    message_id: str
    participant_id: str
    name: str
    text: str
    at: datetime


class QuestionOut(Out):
    question_id: str
    participant_id: str
    name: str
    classroom: str | None
    text: str
    at: datetime
    answer: str | None
    highlighted: bool


class RoomState(Out):
    """What a participant sees on joining (inspectors are never listed)."""

    lesson_id: int
    title: str
    kind: LessonKind
    you: ParticipantOut
    participants: list[ParticipantOut]
    publications: list[PublicationOut]
    floor: str | None = Field(description="The participant that has the floor")
    hands: list[str] = Field(description="Participants with a raised hand, oldest first")
    stage: list[str] = Field(description="Participants on stage")
    chat: list[ChatMessageOut] = Field(description="The latest chat lines, oldest first")
    questions: list[QuestionOut]
    recording: bool = Field(False, description="Whether the lesson is being recorded now")
    main_camera: str | None = Field(None, description=(
        "The hub camera the host chose for everyone (`camera.main`); the other hub cameras "
        "are muted meanwhile"))


class IceServerOut(Out):
    """One entry of the page's RTCConfiguration.iceServers (server/live/ice.py)."""

    urls: list[str] = Field(description="`stun:`, `turn:` or `turns:` URLs")
    username: str | None = Field(None, description="TURN: `<unix expiry>:<identity>`")
    credential: str | None = Field(None, description="TURN: valid until the expiry")


# Server to client ------------------------------------------------------------------------------


class Ok(Message):
    """The reply to a request; fields beyond `id` depend on the request."""

    type: Literal["ok"] = "ok"
    id: RequestId | None = None
    room: RoomState | None = Field(default=None, description="join")
    ice_servers: list[IceServerOut] | None = Field(
        default=None, description="join: RTCConfiguration.iceServers for both media connections")
    ice_transport_policy: Literal["all", "relay"] | None = Field(
        default=None, description="join: RTCConfiguration.iceTransportPolicy")
    sdp: str | None = Field(default=None, description="publish: the relay's answer")
    question_id: str | None = Field(default=None, description="question.ask")
    message_id: str | None = Field(default=None, description="chat.send")


class Error(Message):
    type: Literal["error"] = "error"
    id: RequestId | None = None
    code: SignalErrorCode
    message: str


class Event(Message):
    # The JSON text, made once: a broadcast sends the same event to every participant.
    _wire: str | None = PrivateAttr(default=None)


class OfferEvent(Event):
    """The relay's offer for your receive transport; reply with `answer`."""

    type: Literal["event.offer"] = "event.offer"
    sdp: str


class ParticipantJoined(Event):
    type: Literal["event.participant.joined"] = "event.participant.joined"
    participant: ParticipantOut


class ParticipantLeft(Event):
    type: Literal["event.participant.left"] = "event.participant.left"
    participant_id: str
    reason: LeaveReason


class PublicationAdded(Event):
    type: Literal["event.publication.added"] = "event.publication.added"
    publication: PublicationOut


class PublicationRemoved(Event):
    type: Literal["event.publication.removed"] = "event.publication.removed"
    publication_id: str
    participant_id: str


class PublicationMuted(Event):
    type: Literal["event.publication.muted"] = "event.publication.muted"
    publication_id: str
    muted: bool
    by: str = Field(description="The participant that muted or unmuted it")


class SpeakerActive(Event):
    type: Literal["event.speaker.active"] = "event.speaker.active"
    participant_id: str | None


class FloorChanged(Event):
    type: Literal["event.floor.changed"] = "event.floor.changed"
    participant_id: str | None


class HandRaised(Event):
    type: Literal["event.hand.raised"] = "event.hand.raised"
    participant_id: str


class HandLowered(Event):
    type: Literal["event.hand.lowered"] = "event.hand.lowered"
    participant_id: str


class StageChanged(Event):
    type: Literal["event.stage.changed"] = "event.stage.changed"
    participant_ids: list[str]


class ChatMessage(Event):
    type: Literal["event.chat.message"] = "event.chat.message"
    message: ChatMessageOut


class QuestionAsked(Event):
    type: Literal["event.question.asked"] = "event.question.asked"
    question: QuestionOut


class QuestionAnswered(Event):
    type: Literal["event.question.answered"] = "event.question.answered"
    question: QuestionOut


class QuestionHighlighted(Event):
    type: Literal["event.question.highlighted"] = "event.question.highlighted"
    question_id: str
    highlighted: bool


class MainCameraChanged(Event):
    """The host chose the hub camera everyone sees (null: all of them again)."""

    type: Literal["event.camera.main"] = "event.camera.main"
    publication_id: str | None


class RecordingChanged(Event):
    """Recording started or stopped (every page of the lesson shows a red indicator while on)."""

    type: Literal["event.recording.changed"] = "event.recording.changed"
    recording: bool


class LessonEnded(Event):
    """The lesson ended; the server closes the socket next (4410)."""

    type: Literal["event.lesson.ended"] = "event.lesson.ended"
    lesson_id: int


class Notice(Event):
    """Something only this participant needs to know, for its UI."""

    type: Literal["event.notice"] = "event.notice"
    code: NoticeCode
    message: str
    classroom: str | None = Field(default=None, description=(
        "The classroom it is about (`classroom_not_joined`; `source_*`: the classroom of the "
        "camera): \"School · Classroom\""))


ServerEvent = (
    OfferEvent | ParticipantJoined | ParticipantLeft | PublicationAdded | PublicationRemoved
    | PublicationMuted | SpeakerActive | FloorChanged | HandRaised | HandLowered | StageChanged
    | ChatMessage | QuestionAsked | QuestionAnswered | QuestionHighlighted | MainCameraChanged
    | RecordingChanged | LessonEnded | Notice
)
ServerMessage = Annotated[Ok | Error | ServerEvent, Field(discriminator="type")]


class ServerMessages(RootModel[ServerMessage]):
    """Any message the server sends."""


def to_wire(message: Ok | Error | Event) -> str:
    """The JSON text of a server message (an `ok` leaves out the fields it does not use)."""
    if isinstance(message, Event) and message._wire is not None:
        return message._wire
    data = message.model_dump(mode="json")
    if isinstance(message, Ok):
        data = {k: v for k, v in data.items() if v is not None or k == "id"}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if isinstance(message, Event):
        message._wire = text  # a private attribute: allowed on a frozen model
    return text


def message_types(union: Any) -> list[str]:
    """The `type` strings of a message union, in declaration order."""
    members = union.__args__[0].__args__ if hasattr(union, "__metadata__") else union.__args__
    return [m.model_fields["type"].annotation.__args__[0] for m in members]


CLIENT_TYPES = message_types(ClientMessage)
SERVER_TYPES = message_types(ServerMessage)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of both directions, with the close codes."""
    refs, defs = models_json_schema(
        [(ClientMessages, "validation"), (ServerMessages, "serialization")],
        ref_template="#/$defs/{model}",
    )
    all_defs = dict(defs["$defs"])
    all_defs["CloseCode"] = {
        "title": "CloseCode", "type": "integer", "enum": [int(c) for c in CloseCode],
        "description": "; ".join(f"{int(c)} {c.name}" for c in CloseCode),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kelian.invalid/signalling.schema.json",
        "title": "Kelian signalling",
        "description": f"Messages on /ws, envelope version {VERSION}. See docs/signalling.md.",
        "oneOf": [refs[(ClientMessages, "validation")], refs[(ServerMessages, "serialization")]],
        "$defs": dict(sorted(all_defs.items())),
    }


def main() -> None:
    print(json.dumps(json_schema(), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
