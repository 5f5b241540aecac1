"""What a node tells the others in its heartbeat: `NodeLoad`, and `LoadMeter`, which turns
counters (CPU time, packets forwarded so far) into rates between two heartbeats."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..live.room import LiveRoom


@dataclass(frozen=True)
class NodeLoad:
    node_id: str  # hostname:port, as the Recordings name their node
    url: str  # where other nodes reach this one
    started_at: float  # Unix time
    cpu: float  # fraction of one core used since the last heartbeat
    rooms: int
    participants: int
    packets_per_s: float  # packets the relay forwarded, per second since the last heartbeat
    draining: bool = False  # takes no new Rooms
    seen_at: float = 0.0  # Unix time of the heartbeat

    def to_dict(self) -> dict[str, str]:
        """Field name -> text, for a Redis hash."""
        return {f.name: _text(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, str] | Mapping[bytes, bytes]) -> NodeLoad:
        """From a Redis hash (bytes or text); KeyError or ValueError if it is not one."""
        text = {_str(k): _str(v) for k, v in data.items()}
        return cls(node_id=text["node_id"], url=text["url"],
                   started_at=float(text["started_at"]), cpu=float(text["cpu"]),
                   rooms=int(text["rooms"]), participants=int(text["participants"]),
                   packets_per_s=float(text["packets_per_s"]),
                   draining=text.get("draining", "0") == "1",
                   seen_at=float(text.get("seen_at", "0")))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Usage:
    """What the node holds now, as counters; `LoadMeter` makes the rates."""

    rooms: int = 0
    participants: int = 0
    forwarded: Mapping[Hashable, int] = dataclasses.field(default_factory=dict)  # by Room


def usage_of(rooms: Iterable[LiveRoom]) -> Usage:
    """The live Rooms' figures, from the relay's stats as /metrics reads them."""
    rooms = list(rooms)
    return Usage(rooms=len(rooms), participants=sum(len(r.participants) for r in rooms),
                 forwarded={r.lesson.lesson_id: r.media.stats().forwarded_packets
                            for r in rooms})


class LoadMeter:
    """Rates between successive samples. Packets are counted per Room, so a Room that opens
    or closes does not make a jump; a Subscription closing within a Room only loses that
    Room's packets of the interval (never a negative rate)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._at: float | None = None
        self._cpu = 0.0
        self._forwarded: dict[Hashable, int] = {}

    def rates(self, usage: Usage) -> tuple[float, float]:
        """(CPU fraction of one core, packets forwarded per second) since the last call. The
        first call only starts counting and says (0, 0): over the few milliseconds since
        start-up the CPU would read as one busy core, keeping new Rooms off a fresh node."""
        at, cpu = self._clock(), self._cpu_clock()
        if self._at is None:
            self._at, self._cpu, self._forwarded = at, cpu, dict(usage.forwarded)
            return 0.0, 0.0
        elapsed = max(at - self._at, 1e-6)
        packets = sum(max(n - self._forwarded.get(room, 0), 0)
                      for room, n in usage.forwarded.items())
        self._at, self._cpu, used = at, cpu, cpu - self._cpu
        self._forwarded = dict(usage.forwarded)
        return max(used, 0.0) / elapsed, packets / elapsed
