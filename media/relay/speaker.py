"""Active-speaker detection from the audio-level header extension (RFC 6464): no decoding."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
SILENCE_DBOV = 70  # a mean level above this (quieter) is silence; 127 is digital silence


class SpeakerDetector:
    """Keeps recent levels per participant; `poll` names the loudest when that changes."""

    def __init__(self, window_s: float = 0.6, clock: Callable[[], float] = time.monotonic):
        self._window = window_s
        self._clock = clock
        self._levels: dict[str, deque[tuple[float, int]]] = {}
        self._current: str | None = None

    def add(self, participant_id: str, level_dbov: int) -> None:
        self._levels.setdefault(participant_id, deque()).append((self._clock(), level_dbov))

    def forget(self, participant_id: str) -> None:
        self._levels.pop(participant_id, None)

    def _means(self) -> dict[str, float]:
        horizon = self._clock() - self._window
        means = {}
        for participant_id, samples in list(self._levels.items()):
            while samples and samples[0][0] < horizon:
                samples.popleft()
            if samples:
                means[participant_id] = sum(level for _, level in samples) / len(samples)
        return means

    def poll(self) -> tuple[bool, str | None, int]:
        """(changed, loudest participant or None, its mean level in -dBov)."""
        means = {p: m for p, m in self._means().items() if m <= SILENCE_DBOV}
        loudest = min(means, key=lambda p: means[p]) if means else None
        # Keep the current speaker unless someone is clearly louder (3 dB), to avoid flicker.
        if (loudest is not None and self._current in means
                and means[self._current] - means[loudest] < 3):
            loudest = self._current
        changed = loudest != self._current
        self._current = loudest
        return changed, loudest, round(means[loudest]) if loudest is not None else 127
