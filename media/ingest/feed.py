"""Tracks fed from a reader thread, and the timeline that keeps their timestamps rising.

A camera that drops and comes back restarts its clock: its timestamps would jump back, and a
receiver's jitter buffer would hold or drop the new pictures. `Timeline` maps each connection's
timestamps onto one timeline that rises with the wall clock across reconnections.
"""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

Item = av.Packet | av.VideoFrame | av.AudioFrame


class Timeline:
    """Timestamps in units of 1/`rate`, rising, continuous within a connection."""

    def __init__(self, rate: int, step: int):
        self.rate = rate
        self.time_base = Fraction(1, rate)
        self._step = step  # one frame: what a missing timestamp advances by
        self._start: float | None = None
        self._offset: int | None = None
        self._last: int | None = None

    def restart(self) -> None:
        """A new connection: its first timestamp is placed by the wall clock."""
        self._offset = None

    def stamp(self, pts: int | None) -> int:
        """The timeline's timestamp for a connection's `pts` (in 1/rate; None if unknown)."""
        now = time.monotonic()
        if self._start is None:
            self._start = now
        if self._offset is None or pts is None and self._last is None:
            floor = round((now - self._start) * self.rate)
            if self._last is not None:
                floor = max(floor, self._last + self._step)
            if pts is not None:
                self._offset = floor - pts
            out = floor
        elif pts is None:
            out = self._last + self._step  # type: ignore[operator]  # _last is set here
        else:
            out = pts + self._offset
        if self._last is not None and out <= self._last:
            out = self._last + 1  # never back, never twice (a B-frame stream would land here)
        self._last = out
        return out


class FeedTrack(MediaStreamTrack):
    """A track whose `recv()` returns what the reader pushed: encoded `av.Packet`s (aiortc
    packs them into RTP as they are) or frames (aiortc encodes them).

    A bounded queue: a sender that cannot keep up (or has not started) loses the oldest. With
    `gated`, after a loss or a reconnection it waits for a keyframe, so a receiver never gets
    pictures predicted from ones it did not get."""

    def __init__(self, kind: str, limit: int, gated: bool):
        super().__init__()
        self.kind = kind
        self._limit = limit
        self._gated = gated
        self._need_keyframe = gated
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self.pushed = 0  # items queued, for tests and logs

    def push(self, item: Item, keyframe: bool) -> None:
        if self.readyState != "live":
            return
        if self._queue.qsize() >= self._limit:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_keyframe = self._gated
        if self._need_keyframe and not keyframe:
            return
        self._need_keyframe = False
        self._queue.put_nowait(item)
        self.pushed += 1

    def resync(self) -> None:
        """The source restarted: wait for its next keyframe."""
        self._need_keyframe = self._gated

    async def recv(self) -> Item:  # type: ignore[override]  # packets too, as aiortc takes them
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        return item

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)  # wakes a waiting recv()
        super().stop()
