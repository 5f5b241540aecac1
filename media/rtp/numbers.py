"""Extended RTP sequence numbers and timestamps, and the per-Consumer mappings of both.

RTP carries 16-bit sequence numbers and 32-bit timestamps that wrap. The relay works on
extended (unbounded) values so comparisons never break at a wrap, and maps each Producer's
numbers into one continuous outgoing space per Consumer: across wrap-around, across a switch
to another source (a new camera, a publisher that reconnected) and across packets the relay
chose not to forward (delta frames held back before the first keyframe).

Everything here is pure bookkeeping over integers: no I/O, no clocks.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def unwrap(last_extended: int | None, value: int, modulus: int) -> int:
    """The extended value of `value` (mod `modulus`) closest to `last_extended`.

    A value half a cycle or more ahead is taken to be behind (a late packet).
    """
    if last_extended is None:
        return value
    half = modulus // 2
    delta = (value - last_extended) % modulus
    if delta >= half:
        delta -= modulus
    return last_extended + delta


@dataclass
class Unwrapper:
    """Turns a stream of wrapped values into extended values, tracking the highest seen."""

    modulus: int
    highest: int | None = None

    def extend(self, value: int) -> int:
        extended = unwrap(self.highest, value, self.modulus)
        if self.highest is None or extended > self.highest:
            self.highest = extended
        return extended


@dataclass
class SeqMapper:
    """Maps a Producer's extended sequence numbers to a Consumer's outgoing ones.

    Output stays gap-free where the input is gap-free: packets the relay drops on purpose
    (`drop`) take no outgoing number, and after `switch_source` the next input continues right
    after the last output. Real losses upstream remain gaps, so the receiver can NACK them.
    """

    _offset: int = 0  # output = input + offset - (intentional drops at or below input)
    _dropped: list[int] = field(default_factory=list)  # sorted extended input seqs
    _highest_in: int | None = None
    _highest_out: int | None = None
    _window: int = 1 << 15  # drops older than this behind the highest input are forgotten

    def _drops_up_to(self, seq: int) -> int:
        return bisect_right(self._dropped, seq)

    def _prune(self) -> None:
        if self._highest_in is None or not self._dropped:
            return
        horizon = self._highest_in - self._window
        cut = bisect_right(self._dropped, horizon)
        if cut:
            # Fold forgotten drops into the offset so later outputs do not move.
            self._offset -= cut
            del self._dropped[:cut]

    def map(self, seq: int) -> int | None:
        """The outgoing extended sequence number for input `seq`; None if it was dropped
        or is older than the last source switch."""
        highest_in = self._highest_in
        if highest_in is not None and seq > highest_in and not self._dropped:
            # The usual case, taken at every forwarded packet: the next number, no drops to
            # account for (the general path below gives the same answer, more slowly).
            out = seq + self._offset
            self._highest_in = seq
            if self._highest_out is None or out > self._highest_out:
                self._highest_out = out
            return out
        if self._highest_in is None:
            self._highest_in = seq
            self._offset = (self._highest_out + 1 - seq) if self._highest_out is not None else 0
        if self._dropped and self._dropped[0] <= seq and self._is_dropped(seq):
            return None
        out = seq + self._offset - self._drops_up_to(seq)
        if self._highest_out is not None and out <= self._highest_out - self._window:
            return None
        if seq > self._highest_in:
            self._highest_in = seq
            self._prune()
        if self._highest_out is None or out > self._highest_out:
            self._highest_out = out
        return out

    def _is_dropped(self, seq: int) -> bool:
        i = bisect_right(self._dropped, seq)
        return i > 0 and self._dropped[i - 1] == seq

    def drop(self, seq: int) -> None:
        """Forward nothing for input `seq` and give it no outgoing number.

        Only a packet not yet forwarded may be dropped; a drop above every forwarded packet
        shifts the numbers of all later packets down by one.
        """
        if self._highest_in is None:
            self._highest_in = seq - 1
            self._offset = (self._highest_out + 1 - seq) if self._highest_out is not None else 0
        if not self._is_dropped(seq):
            insort(self._dropped, seq)
        if seq > self._highest_in:
            self._highest_in = seq
            self._prune()

    def switch_source(self) -> None:
        """The next input starts a new numbering; it continues after the last output."""
        self._highest_in = None
        self._dropped.clear()


@dataclass
class TimestampMapper:
    """Maps a Producer's extended RTP timestamps to a Consumer's outgoing ones.

    After `switch_source(gap)` the first packet of the new source is placed `gap` ticks after
    the last outgoing timestamp (the caller derives `gap` from wall-clock time and the clock
    rate), so the receiver's playout sees a pause rather than a jump.
    """

    _offset: int = 0
    _pending_gap: int | None = None
    _highest_out: int | None = None

    def map(self, timestamp: int) -> int:
        if self._pending_gap is not None:
            base = self._highest_out if self._highest_out is not None else timestamp
            self._offset = base + self._pending_gap - timestamp
            self._pending_gap = None
        out = timestamp + self._offset
        if self._highest_out is None or out > self._highest_out:
            self._highest_out = out
        return out

    def switch_source(self, gap: int) -> None:
        self._pending_gap = max(1, gap)
