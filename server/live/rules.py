"""The lesson-kind rules: who may publish what, who receives whom, who may do what.

Pure functions over small values (no I/O, no room objects), so the rules read as tables and are
tested as tables (tests/live/test_rules.py). The live Room asks these on every action and every
time it recomputes Subscriptions; the pages only mirror them.

Seats:
- `host`: the lesson's teacher (or an admin) on the teacher console.
- `host_classroom`: a terminal in the lesson's host classroom.
- `receiving_classroom`: a terminal in a linked classroom (a teaching point, a receiving school).
- `observer`: an invited user (teaching research, evaluation).
- `inspector`: an inspector of the lesson's county watching silently (网络巡课).

The hub side (`host` and `host_classroom`) sits in one room, so it never receives itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from media.interface import SourceLabel, TrackKind

from ..models import LessonKind


class ParticipantRole(StrEnum):
    host = "host"
    host_classroom = "host_classroom"
    receiving_classroom = "receiving_classroom"
    observer = "observer"
    inspector = "inspector"


class Action(StrEnum):
    """What a participant may ask of the Room besides publishing."""

    chat = "chat"
    raise_hand = "raise_hand"
    ask_question = "ask_question"
    answer_question = "answer_question"  # also highlights questions
    give_floor = "give_floor"  # and take it back
    manage_stage = "manage_stage"  # invite to and remove from the stage
    mute_others = "mute_others"  # another participant's microphone
    lower_hands = "lower_hands"  # another participant's raised hand
    end_lesson = "end_lesson"
    record = "record"  # start and stop recording the lesson
    main_camera = "main_camera"  # choose which hub camera everyone sees


R = ParticipantRole
HUB = frozenset({R.host, R.host_classroom})
ALL_SOURCES = frozenset(SourceLabel)
CAMERA_AND_MICROPHONE = frozenset({SourceLabel.camera, SourceLabel.microphone})
NOTHING: frozenset[SourceLabel] = frozenset()

# The kind of track each source must be: a "microphone" that carries video is refused.
SOURCE_KIND: dict[SourceLabel, TrackKind] = {
    SourceLabel.camera: TrackKind.video,
    SourceLabel.screen: TrackKind.video,
    SourceLabel.microphone: TrackKind.audio,
}

_HOST_ACTIONS = frozenset({Action.chat, Action.give_floor, Action.mute_others,
                           Action.lower_hands, Action.end_lesson, Action.record,
                           Action.main_camera})
ACTIONS: dict[LessonKind, dict[ParticipantRole, frozenset[Action]]] = {
    LessonKind.dedicated: {
        R.host: _HOST_ACTIONS,
        R.host_classroom: frozenset({Action.chat}),
        R.receiving_classroom: frozenset({Action.chat, Action.raise_hand}),
        R.observer: frozenset({Action.chat}),
    },
    LessonKind.master_teacher: {
        R.host: frozenset({Action.chat, Action.manage_stage, Action.mute_others,
                           Action.lower_hands, Action.end_lesson, Action.record,
                           Action.main_camera}),
        R.host_classroom: frozenset({Action.chat}),
        R.receiving_classroom: frozenset({Action.chat, Action.raise_hand}),
        R.observer: frozenset({Action.chat, Action.raise_hand}),  # comments, asking to speak
    },
    LessonKind.famous_school: {
        R.host: frozenset({Action.chat, Action.answer_question, Action.end_lesson,
                           Action.record, Action.main_camera}),
        R.host_classroom: frozenset({Action.chat}),
        R.receiving_classroom: frozenset({Action.ask_question}),
        R.observer: frozenset({Action.ask_question}),
    },
}

# Who can be given the floor (dedicated) or brought on stage (master_teacher).
FLOOR_SEATS = frozenset({R.receiving_classroom})
STAGE_SEATS = frozenset({R.receiving_classroom, R.observer})


@dataclass(frozen=True)
class Seat:
    """A participant as the rules see it."""

    participant_id: str
    role: ParticipantRole
    on_stage: bool = False


def may(kind: LessonKind, role: ParticipantRole, action: Action) -> bool:
    """Inspectors do nothing but watch."""
    return action in ACTIONS[kind].get(role, frozenset())


def listed(role: ParticipantRole) -> bool:
    """Whether others see this participant (inspectors watch unseen)."""
    return role is not R.inspector


def sees(kind: LessonKind, viewer: ParticipantRole, other: ParticipantRole) -> bool:
    """Whether `viewer` is told that `other` is in the Room. In a famous-school broadcast the
    hundreds of receiving classrooms and observers know only the hub (and the hub knows all):
    telling everyone about everyone would cost O(n²) messages for nothing on their screens."""
    if not listed(other):
        return False
    if kind is LessonKind.famous_school and viewer not in HUB and viewer is not R.inspector:
        return other in HUB
    return True


def allowed_sources(kind: LessonKind, seat: Seat) -> frozenset[SourceLabel]:
    """What `seat` may publish now."""
    if seat.role in HUB:
        return ALL_SOURCES
    match kind:
        case LessonKind.dedicated:
            return CAMERA_AND_MICROPHONE if seat.role is R.receiving_classroom else NOTHING
        case LessonKind.master_teacher:
            on_stage = seat.on_stage and seat.role in STAGE_SEATS
            return CAMERA_AND_MICROPHONE if on_stage else NOTHING
    return NOTHING


def may_publish(kind: LessonKind, seat: Seat, track: TrackKind, source: SourceLabel) -> bool:
    return source in allowed_sources(kind, seat) and SOURCE_KIND[source] is track


def receives(kind: LessonKind, viewer: Seat, publisher: Seat, source: SourceLabel,
             floor: str | None) -> bool:
    """Whether `viewer` is sent `publisher`'s `source` now; `floor` is the floor holder's id."""
    if viewer.participant_id == publisher.participant_id:
        return False
    if source not in allowed_sources(kind, publisher):
        return False  # e.g. an observer sent back from the stage
    if viewer.role is R.inspector:
        # What the host classroom receives, plus the hub's own publications.
        as_hub = Seat(viewer.participant_id, R.host_classroom)
        return publisher.role in HUB or receives(kind, as_hub, publisher, source, floor)
    if publisher.role in HUB:
        return viewer.role not in HUB
    match kind:
        case LessonKind.dedicated:
            if publisher.participant_id == floor:
                return True  # every room sees and hears the point that has the floor
            # The hub sees every point in its grid; it hears a point when it has the floor.
            return viewer.role in HUB and source is SourceLabel.camera
        case LessonKind.master_teacher:
            return True  # an on-stage speaker reaches everyone
    return False
