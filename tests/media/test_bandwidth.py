"""Bandwidth steering: hysteresis of the audio-only pause and the publisher's target."""

from __future__ import annotations

from media.relay.bandwidth import (
    PUBLISHER_CEILING_BPS,
    PUBLISHER_FLOOR_BPS,
    LinkDecision,
    LinkState,
    publisher_target,
)


def test_a_link_is_paused_only_after_staying_low_and_resumed_only_after_staying_high() -> None:
    link = LinkState()
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


def test_publisher_target_is_the_weakest_video_subscriber_within_bounds() -> None:
    assert publisher_target([]) is None
    assert publisher_target([2_000_000, 800_000, 1_200_000]) == 800_000
    assert publisher_target([50_000]) == PUBLISHER_FLOOR_BPS
    assert publisher_target([90_000_000]) == PUBLISHER_CEILING_BPS
