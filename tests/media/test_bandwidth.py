"""Bandwidth steering: hysteresis of the audio-only pause and the publisher's target."""

from __future__ import annotations

from media.relay.bandwidth import (
    PROBE_AFTER_S,
    PROBE_GRACE_S,
    PROBE_MAX_S,
    PUBLISHER_CEILING_BPS,
    PUBLISHER_FLOOR_BPS,
    VIDEO_PAUSE_BPS,
    WARMUP_S,
    LinkDecision,
    LinkState,
    publisher_target,
)


def test_a_link_is_paused_only_after_staying_low_and_resumed_only_after_staying_high() -> None:
    link = LinkState()
    assert link.update(600_000, -1.0) is None  # it has carried video
    assert link.update(100_000, 0.0) is None
    assert link.update(100_000, 1.9) is None
    assert link.update(100_000, 2.0) is LinkDecision.pause
    assert link.video_paused
    assert link.update(250_000, 3.0) is None  # between the thresholds: stays paused
    assert link.update(400_000, 4.0) is None
    assert link.update(400_000, 7.9) is None
    assert link.update(400_000, 8.0) is LinkDecision.resume
    assert not link.video_paused


def test_a_short_dip_or_a_short_recovery_changes_nothing() -> None:
    link = LinkState()
    assert link.update(100_000, 0.0) is None
    assert link.update(900_000, 1.0) is None  # recovered before the pause
    assert link.update(100_000, 2.5) is None
    assert link.update(100_000, 4.5) is LinkDecision.pause
    assert link.update(400_000, 5.0) is None
    assert link.update(100_000, 6.0) is None  # fell back before resuming
    assert link.update(400_000, 7.0) is None
    assert link.update(400_000, 10.9) is None
    assert link.update(400_000, 11.0) is LinkDecision.resume


def test_a_new_link_ramping_up_from_a_low_estimate_is_not_paused_during_its_warm_up() -> None:
    """Browsers start their estimate near the incoming rate and raise it over tens of seconds:
    a fresh subscriber reporting 50 kbps is not a weak link yet."""
    link = LinkState()
    t, estimate = 0.0, 50_000
    while estimate < VIDEO_PAUSE_BPS:
        assert link.update(int(estimate), t) is None
        t, estimate = t + 0.25, estimate * 1.02  # ~8 %/s
    assert t < WARMUP_S
    assert link.update(int(estimate), t) is None
    assert not link.video_paused
    # Once it has carried video, a collapse is judged at once.
    assert link.update(80_000, t + 1) is None
    assert link.update(80_000, t + 3) is LinkDecision.pause


def test_a_link_that_never_ramps_up_is_paused_after_the_warm_up() -> None:
    link = LinkState()
    assert link.update(60_000, 0.0) is None
    assert link.update(60_000, WARMUP_S - 0.1) is None
    assert link.update(60_000, WARMUP_S + 0.5) is None
    assert link.update(60_000, WARMUP_S + 2.5) is LinkDecision.pause


def test_a_paused_link_is_tried_with_video_again_less_and_less_often() -> None:
    """Receiving audio only, a browser's estimate stays near the audio rate: the relay cannot
    wait for it to recover, so it tries video again (doubling the wait after each failure)."""
    link = LinkState()
    link.update(600_000, 0.0)
    link.update(80_000, 1.0)
    assert link.update(80_000, 3.0) is LinkDecision.pause
    t = 3.0
    wait = PROBE_AFTER_S
    for _ in range(5):
        assert link.update(80_000, t + wait - 0.1) is None
        assert link.update(80_000, t + wait) is LinkDecision.resume
        t += wait
        assert link.update(80_000, t + PROBE_GRACE_S - 0.1) is None  # a grace to ramp up
        assert link.update(80_000, t + PROBE_GRACE_S) is None  # low from here on …
        assert link.update(80_000, t + PROBE_GRACE_S + 2) is LinkDecision.pause  # … for 2 s
        t += PROBE_GRACE_S + 2
        wait = min(PROBE_MAX_S, wait * 2)
    assert wait == PROBE_MAX_S


def test_a_probe_that_carries_video_keeps_it() -> None:
    link = LinkState()
    link.update(600_000, 0.0)
    link.update(80_000, 1.0)
    assert link.update(80_000, 3.0) is LinkDecision.pause
    assert link.update(80_000, 3.0 + PROBE_AFTER_S) is LinkDecision.resume
    for second in range(1, 60):
        assert link.update(400_000, 3.0 + PROBE_AFTER_S + second) is None
    assert not link.video_paused


def test_publisher_target_is_the_weakest_video_subscriber_within_bounds() -> None:
    assert publisher_target([]) is None
    assert publisher_target([2_000_000, 800_000, 1_200_000]) == 800_000
    assert publisher_target([50_000]) == PUBLISHER_FLOOR_BPS
    assert publisher_target([90_000_000]) == PUBLISHER_CEILING_BPS
