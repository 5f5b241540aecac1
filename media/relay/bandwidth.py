"""Bandwidth steering from subscribers' estimates (REMB): pure decisions, no I/O.

A subscriber whose link cannot carry video is paused to audio only, and resumed once it has
recovered (or tried again now and then: an audio-only link cannot show that it recovered);
hysteresis keeps a link near the threshold from flapping. What the publisher is
asked to send is the lowest estimate among the subscribers still receiving video, so every
classroom that gets video can sustain it; the ones that cannot are paused instead of
dragging the lesson down for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

VIDEO_PAUSE_BPS = 150_000  # below this for PAUSE_AFTER_S: audio only
VIDEO_RESUME_BPS = 300_000  # above this for RESUME_AFTER_S: video again
PAUSE_AFTER_S = 2.0
RESUME_AFTER_S = 4.0
# A new link's estimates start near what it receives and ramp up (Chrome's receive-side
# estimate grows ~8 %/s from the incoming rate), so a link is not judged until it has shown an
# estimate above VIDEO_PAUSE_BPS or WARMUP_S have passed since its first estimate.
WARMUP_S = 30.0
# While a link is paused it receives audio only, and a receiver's estimate cannot grow much past
# what it receives: it cannot show a recovery. So a paused link is tried with video again after
# PROBE_AFTER_S (doubling after each failed try, up to PROBE_MAX_S) and judged PROBE_GRACE_S
# later, unless its estimate has shown it carries video by then.
PROBE_AFTER_S = 15.0
PROBE_MAX_S = 120.0
PROBE_GRACE_S = 12.0
PUBLISHER_FLOOR_BPS = 300_000
PUBLISHER_CEILING_BPS = 4_000_000


class LinkDecision(StrEnum):
    pause = "pause"
    resume = "resume"


@dataclass
class LinkState:
    """One subscriber's link, fed with its estimates over time."""

    video_paused: bool = False
    _below_since: float | None = None
    _above_since: float | None = None
    _judge_after: float | None = None  # not judged before this (warm-up, or after a probe)
    _proven: bool = False  # has shown an estimate that carries video
    _paused_at: float = 0.0
    _probe_after: float = PROBE_AFTER_S
    estimate_bps: int | None = None

    def update(self, estimate_bps: int, now: float) -> LinkDecision | None:
        self.estimate_bps = estimate_bps
        if self._judge_after is None:
            self._judge_after = now + WARMUP_S
        if not self.video_paused:
            self._above_since = None
            if estimate_bps >= VIDEO_PAUSE_BPS:
                self._below_since = None
                self._proven = True
                return None
            if not self._proven and now < self._judge_after:
                return None  # still ramping up from what it received so far
            if self._below_since is None:
                self._below_since = now
            if now - self._below_since >= PAUSE_AFTER_S:
                self.video_paused = True
                self._below_since = None
                self._paused_at = now
                return LinkDecision.pause
            return None
        self._below_since = None
        if now - self._paused_at >= self._probe_after:
            return self._probe(now)
        if estimate_bps < VIDEO_RESUME_BPS:
            self._above_since = None
            return None
        if self._above_since is None:
            self._above_since = now
        if now - self._above_since >= RESUME_AFTER_S:
            self.video_paused = False
            self._above_since = None
            self._probe_after = PROBE_AFTER_S
            return LinkDecision.resume
        return None

    def _probe(self, now: float) -> LinkDecision:
        """Try video again on a paused link (its audio-only estimate cannot show a recovery)."""
        self.video_paused = False
        self._above_since = None
        self._proven = False
        self._judge_after = now + PROBE_GRACE_S
        self._probe_after = min(PROBE_MAX_S, self._probe_after * 2)
        return LinkDecision.resume


def publisher_target(estimates: Iterable[int]) -> int | None:
    """The bitrate to ask a video publisher for, from its video subscribers' estimates."""
    values = [e for e in estimates if e > 0]
    if not values:
        return None
    return max(PUBLISHER_FLOOR_BPS, min(PUBLISHER_CEILING_BPS, min(values)))
