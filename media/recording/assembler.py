"""One recorded track's packets, put back in sequence order and grouped into frames.

Packets repaired by NACK/RTX reach the relay late, so a missing packet is waited for a little
(a window of packets and of time) before it counts as lost. A lost packet costs the frame it
belonged to: the assembler reports a `GAP` and the writer then waits for a key frame. Pure
bookkeeping: time comes in with the packets, nothing here blocks or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

REORDER_PACKETS = 512  # a missing packet this far behind the newest counts as lost
REORDER_S = 0.5  # … and so does one the next packet has waited this long for


@dataclass(frozen=True, slots=True)
class Packet:
    seq: int  # extended
    timestamp: int  # extended
    marker: bool
    payload: bytes
    arrival: float  # monotonic seconds


class Gap:
    """Something was lost between the frames before and after it."""

    def __repr__(self) -> str:
        return "GAP"


GAP = Gap()
Frame = list[Packet]  # the packets of one frame, in order, none missing


class FrameAssembler:
    def __init__(self, starts_frame: Callable[[bytes], bool], packet_per_frame: bool,
                 window_packets: int = REORDER_PACKETS, window_s: float = REORDER_S):
        self._starts_frame = starts_frame
        self._packet_per_frame = packet_per_frame  # audio: every packet is a frame
        self._window_packets = window_packets
        self._window_s = window_s
        self._held: dict[int, Packet] = {}  # arrived ahead of a missing packet
        self._next: int | None = None  # the sequence number due
        self._frame: Frame = []
        self._skip_timestamp: int | None = None  # the rest of a frame whose start is gone

    def push(self, packet: Packet) -> list[Frame | Gap]:
        out: list[Frame | Gap] = []
        if self._next is None:
            self._next = packet.seq
        if packet.seq < self._next or packet.seq in self._held:
            return out  # too late (already given up on) or a duplicate
        self._held[packet.seq] = packet
        self._drain(out, packet.arrival)
        return out

    def tick(self, now: float) -> list[Frame | Gap]:
        """Give up on missing packets that were waited for long enough."""
        out: list[Frame | Gap] = []
        if self._held:
            self._drain(out, now)
        return out

    def flush(self) -> list[Frame | Gap]:
        """The source ends: take whatever is complete, without waiting for anything."""
        out: list[Frame | Gap] = []
        while self._held:
            self._drain(out, float("inf"))
        if self._frame:  # its end never came
            self._lose(out)
        return out

    def _drain(self, out: list[Frame | Gap], now: float) -> None:
        while True:
            assert self._next is not None
            while (packet := self._held.pop(self._next, None)) is not None:
                self._next += 1
                self._take(packet, out)
            if not self._held:
                return
            first = min(self._held)
            if (max(self._held) - self._next < self._window_packets
                    and now - self._held[first].arrival < self._window_s):
                return  # the missing packet may still come
            self._lose(out)
            self._next = first

    def _lose(self, out: list[Frame | Gap]) -> None:
        if self._frame:
            self._skip_timestamp = self._frame[0].timestamp
        self._frame = []
        out.append(GAP)

    def _take(self, packet: Packet, out: list[Frame | Gap]) -> None:
        if self._packet_per_frame:
            out.append([packet])
            return
        frame = self._frame
        if frame and packet.timestamp != frame[0].timestamp:
            # A new frame began without a marker on the last: nothing of it is missing.
            out.append(frame)
            frame = self._frame = []
        if not frame:
            if packet.timestamp == self._skip_timestamp:
                return  # the rest of a frame that lost packets
            if not self._starts_frame(packet.payload):
                self._skip_timestamp = packet.timestamp
                out.append(GAP)
                return
            self._skip_timestamp = None
        frame.append(packet)
        if packet.marker:
            out.append(frame)
            self._frame = []
