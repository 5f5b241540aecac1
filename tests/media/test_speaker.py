"""Active speaker from audio levels: loudest wins, silence clears, small differences don't flicker."""

from __future__ import annotations

from media.relay.speaker import SpeakerDetector


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_loudest_participant_becomes_the_speaker_and_silence_clears_it() -> None:
    clock = Clock()
    detector = SpeakerDetector(window_s=0.5, clock=clock)
    assert detector.poll() == (False, None, 127)
    for _ in range(10):
        detector.add("teacher", 30)
        detector.add("point-a", 60)
        clock.now += 0.02
    assert detector.poll() == (True, "teacher", 30)
    assert detector.poll() == (False, "teacher", 30)
    clock.now += 1.0  # nothing heard for a second
    assert detector.poll() == (True, None, 127)


def test_a_slightly_louder_voice_does_not_steal_the_floor_a_clearly_louder_one_does() -> None:
    clock = Clock()
    detector = SpeakerDetector(window_s=0.5, clock=clock)
    for _ in range(10):
        detector.add("teacher", 40)
        clock.now += 0.02
    assert detector.poll()[1] == "teacher"
    for _ in range(10):
        detector.add("teacher", 40)
        detector.add("point-a", 38)
        clock.now += 0.02
    assert detector.poll()[1] == "teacher"
    for _ in range(30):
        detector.add("teacher", 45)
        detector.add("point-a", 20)
        clock.now += 0.02
    assert detector.poll() == (True, "point-a", 20)


def test_levels_quieter_than_the_threshold_are_silence() -> None:
    clock = Clock()
    detector = SpeakerDetector(clock=clock)
    detector.add("point-a", 100)
    assert detector.poll() == (False, None, 127)
