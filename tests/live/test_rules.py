"""The lesson-kind rules as tables: who publishes what, who receives whom, who may do what."""

from __future__ import annotations

import pytest

from media.interface import SourceLabel, TrackKind
from server.live.rules import (
    ACTIONS,
    Action,
    ParticipantRole,
    Seat,
    allowed_sources,
    listed,
    may,
    may_publish,
    receives,
)
from server.models import LessonKind

D, M, F = LessonKind.dedicated, LessonKind.master_teacher, LessonKind.famous_school
R = ParticipantRole
CAM, MIC, SCREEN = SourceLabel.camera, SourceLabel.microphone, SourceLabel.screen

HOST = Seat("host", R.host)
HUB_TV = Seat("hub", R.host_classroom)
POINT_A = Seat("pa", R.receiving_classroom)
POINT_B = Seat("pb", R.receiving_classroom)
OBSERVER = Seat("obs", R.observer)
ON_STAGE = Seat("obs2", R.observer, on_stage=True)
CLASS_ON_STAGE = Seat("pc", R.receiving_classroom, on_stage=True)
INSPECTOR = Seat("insp", R.inspector)
INSPECTOR_ON_STAGE = Seat("insp2", R.inspector, on_stage=True)  # cannot be, but must not help


@pytest.mark.parametrize(("kind", "seat", "sources"), [
    (D, HOST, {CAM, MIC, SCREEN}),
    (D, HUB_TV, {CAM, MIC, SCREEN}),
    (D, POINT_A, {CAM, MIC}),
    (D, OBSERVER, set()),
    (D, ON_STAGE, set()),  # no stage in dedicated lessons
    (D, INSPECTOR, set()),
    (M, HOST, {CAM, MIC, SCREEN}),
    (M, HUB_TV, {CAM, MIC, SCREEN}),
    (M, POINT_A, set()),
    (M, OBSERVER, set()),
    (M, ON_STAGE, {CAM, MIC}),
    (M, CLASS_ON_STAGE, {CAM, MIC}),
    (M, INSPECTOR, set()),
    (M, INSPECTOR_ON_STAGE, set()),
    (F, HOST, {CAM, MIC, SCREEN}),
    (F, HUB_TV, {CAM, MIC, SCREEN}),
    (F, POINT_A, set()),
    (F, OBSERVER, set()),
    (F, ON_STAGE, set()),
    (F, INSPECTOR, set()),
])
def test_who_publishes_what(kind: LessonKind, seat: Seat, sources: set[SourceLabel]) -> None:
    assert allowed_sources(kind, seat) == sources


@pytest.mark.parametrize(("track", "source", "ok"), [
    (TrackKind.video, CAM, True), (TrackKind.video, SCREEN, True), (TrackKind.audio, MIC, True),
    (TrackKind.audio, CAM, False), (TrackKind.audio, SCREEN, False), (TrackKind.video, MIC, False),
])
def test_a_source_must_be_the_right_kind_of_track(track: TrackKind, source: SourceLabel,
                                                  ok: bool) -> None:
    assert may_publish(D, HOST, track, source) is ok


# (kind, viewer, publisher, source, floor holder) -> received
RECEIVES = [
    # dedicated: points see and hear the hub; the hub sees every point; the floor reaches all
    (D, POINT_A, HOST, CAM, None, True),
    (D, POINT_A, HOST, SCREEN, None, True),
    (D, POINT_A, HUB_TV, MIC, None, True),
    (D, OBSERVER, HOST, MIC, None, True),
    (D, HOST, HUB_TV, CAM, None, False),  # the hub side is one room
    (D, HUB_TV, HOST, MIC, None, False),
    (D, HOST, POINT_A, CAM, None, True),
    (D, HUB_TV, POINT_A, CAM, None, True),
    (D, HOST, POINT_A, MIC, None, False),
    (D, HOST, POINT_A, MIC, "pa", True),
    (D, POINT_B, POINT_A, CAM, None, False),
    (D, POINT_B, POINT_A, MIC, None, False),
    (D, POINT_B, POINT_A, CAM, "pa", True),
    (D, POINT_B, POINT_A, MIC, "pa", True),
    (D, OBSERVER, POINT_A, MIC, "pa", True),
    (D, OBSERVER, POINT_A, CAM, None, False),
    (D, POINT_A, POINT_A, CAM, "pa", False),  # nobody receives itself
    (D, POINT_B, POINT_A, SCREEN, "pa", False),  # a point never publishes courseware
    (D, INSPECTOR, HOST, CAM, None, True),
    (D, INSPECTOR, POINT_A, CAM, None, True),
    (D, INSPECTOR, POINT_A, MIC, None, False),
    (D, INSPECTOR, POINT_A, MIC, "pa", True),
    # master_teacher: everyone receives the hub side and whoever is on stage
    (M, OBSERVER, HOST, CAM, None, True),
    (M, POINT_A, HUB_TV, SCREEN, None, True),
    (M, OBSERVER, ON_STAGE, MIC, None, True),
    (M, HOST, ON_STAGE, CAM, None, True),
    (M, POINT_A, CLASS_ON_STAGE, MIC, None, True),
    (M, HOST, OBSERVER, CAM, None, False),  # sent back from the stage: forwarded to nobody
    (M, OBSERVER, POINT_A, CAM, None, False),
    (M, INSPECTOR, ON_STAGE, MIC, None, True),
    (M, INSPECTOR, HOST, MIC, None, True),
    (M, HOST, HUB_TV, CAM, None, False),
    # famous_school: one to many
    (F, POINT_A, HOST, CAM, None, True),
    (F, OBSERVER, HUB_TV, SCREEN, None, True),
    (F, HOST, POINT_A, CAM, None, False),
    (F, POINT_B, POINT_A, CAM, "pa", False),  # no floor in famous_school lessons
    (F, INSPECTOR, HOST, CAM, None, True),
    (F, INSPECTOR, POINT_A, CAM, None, False),
    # inspectors publish nothing, so nobody receives them
    (D, HOST, INSPECTOR, CAM, None, False),
    (M, HOST, INSPECTOR_ON_STAGE, CAM, None, False),
]


@pytest.mark.parametrize(("kind", "viewer", "publisher", "source", "floor", "received"), RECEIVES)
def test_who_receives_whom(kind: LessonKind, viewer: Seat, publisher: Seat,
                           source: SourceLabel, floor: str | None, received: bool) -> None:
    assert receives(kind, viewer, publisher, source, floor) is received


ACTION_TABLE = {
    # kind: {action: roles allowed}
    D: {Action.chat: {R.host, R.host_classroom, R.receiving_classroom, R.observer},
        Action.raise_hand: {R.receiving_classroom},
        Action.ask_question: set(), Action.answer_question: set(),
        Action.give_floor: {R.host}, Action.manage_stage: set(),
        Action.mute_others: {R.host}, Action.lower_hands: {R.host}, Action.end_lesson: {R.host},
        Action.record: {R.host}, Action.main_camera: {R.host}},
    M: {Action.chat: {R.host, R.host_classroom, R.receiving_classroom, R.observer},
        Action.raise_hand: {R.receiving_classroom, R.observer},
        Action.ask_question: set(), Action.answer_question: set(),
        Action.give_floor: set(), Action.manage_stage: {R.host},
        Action.mute_others: {R.host}, Action.lower_hands: {R.host}, Action.end_lesson: {R.host},
        Action.record: {R.host}, Action.main_camera: {R.host}},
    F: {Action.chat: {R.host, R.host_classroom},
        Action.raise_hand: set(),
        Action.ask_question: {R.receiving_classroom, R.observer}, Action.answer_question: {R.host},
        Action.give_floor: set(), Action.manage_stage: set(),
        Action.mute_others: set(), Action.lower_hands: set(), Action.end_lesson: {R.host},
        Action.record: {R.host}, Action.main_camera: {R.host}},
}


@pytest.mark.parametrize("kind", [D, M, F])
def test_who_may_do_what(kind: LessonKind) -> None:
    table = {action: {role for role in R if may(kind, role, action)} for action in Action}
    assert table == ACTION_TABLE[kind]
    assert set(ACTIONS) == set(LessonKind)


def test_inspectors_are_never_listed_and_do_nothing() -> None:
    assert [role for role in R if not listed(role)] == [R.inspector]
    assert not any(may(kind, R.inspector, action) for kind in LessonKind for action in Action)
