"""A recorded track's place on the recording clock.

Every track of a Recording is timed on one clock: milliseconds since the recording started.
A source's RTP timestamps (its capture times) keep the spacing of its frames; the first frame
of each source is anchored at its arrival on the recording clock. So a new Producer (the
publisher reconnected, the teacher switched cameras), a silent publisher or a jump in the
publisher's RTP clock never rewinds or stretches the timeline: a gap stays a gap.
"""

from __future__ import annotations

RESYNC_MS = 1000  # a source drifting this far from arrival times is re-anchored


class TrackClock:
    def __init__(self) -> None:
        self._clock_rate = 90000
        self._anchor: tuple[int, float] | None = None  # (RTP timestamp, recording ms)
        self.last_ms: int | None = None  # survives source switches: a track never rewinds

    def restart(self, clock_rate: int) -> None:
        """A new source: its RTP timestamps bear no relation to the last one's."""
        self._clock_rate = clock_rate
        self._anchor = None

    def pts_ms(self, timestamp: int, arrival_ms: float) -> int:
        """The presentation time of a frame with extended RTP `timestamp` that arrived at
        `arrival_ms` on the recording clock; strictly increasing per track."""
        if self._anchor is None:
            self._anchor = (timestamp, arrival_ms)
        anchor_ts, anchor_ms = self._anchor
        pts = anchor_ms + (timestamp - anchor_ts) * 1000 / self._clock_rate
        if abs(pts - arrival_ms) > RESYNC_MS:
            self._anchor = (timestamp, arrival_ms)
            pts = arrival_ms
        out = round(pts)
        if self.last_ms is not None and out <= self.last_ms:
            out = self.last_ms + 1
        self.last_ms = out
        return out
