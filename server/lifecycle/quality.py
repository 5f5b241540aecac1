"""Link quality from the relay's statistics: per-participant readings, minutes, grades.

Pure functions over `media.interface.RoomStats`. The relay's counters are cumulative, so a
reading is the difference between two snapshots: for each participant, what the relay sent it
(downlink: round trip, loss and jitter from its receiver reports, and rate) and what it
published (uplink rate). A minute of readings becomes one `LinkSample` row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from statistics import fmean

from media.interface import RoomStats, TrackStats

from ..live.attendance import ViewerReport


class Grade(StrEnum):
    """As the live pages grade a link (web/static/live/ui.js), with the round trip added."""

    good = "good"
    fair = "fair"
    poor = "poor"


# (fair from, poor from): loss and jitter as in the browser's own grading, plus round trip.
LOSS_PCT = (2.0, 8.0)
JITTER_MS = (60.0, 150.0)
RTT_MS = (250.0, 500.0)
# Frames per second a terminal shows of the main video (the other way round: poor below the
# first, fair below the second). Classroom cameras send 25–30.
FPS = (10.0, 20.0)


def grade(loss_pct: float | None, rtt_ms: float | None, jitter_ms: float | None) -> Grade | None:
    """None when nothing was measured (e.g. a participant that received nothing)."""
    figures = [(loss_pct, LOSS_PCT), (rtt_ms, RTT_MS), (jitter_ms, JITTER_MS)]
    known = [(value, limits) for value, limits in figures if value is not None]
    if not known:
        return None
    if any(value >= limits[1] for value, limits in known):
        return Grade.poor
    if any(value >= limits[0] for value, limits in known):
        return Grade.fair
    return Grade.good


@dataclass(frozen=True)
class Reading:
    """One participant's link between two snapshots."""

    sent: int = 0  # packets the relay sent it
    lost: int = 0  # of those, lost on the way (its receiver reports)
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    down_kbps: float = 0.0
    up_kbps: float = 0.0


def _delta(now: TrackStats, before: TrackStats | None) -> tuple[int, int, int] | None:
    """(packets, lost, bytes) since `before`; None for a track seen for the first time."""
    if before is None:
        return None
    return (max(0, now.packets - before.packets), max(0, now.packets_lost - before.packets_lost),
            max(0, now.bytes - before.bytes))


def readings(before: RoomStats | None, now: RoomStats, elapsed_s: float,
             publishers: Mapping[str, str]) -> dict[str, Reading]:
    """Each participant's reading between two snapshots of one Room. `publishers` maps a
    publication id to its participant. Tracks new since `before` wait for the next reading."""
    if before is None or elapsed_s <= 0:
        return {}
    down: dict[str, list[tuple[TrackStats, tuple[int, int, int]]]] = {}
    for (subscriber, publication), stats in now.subscriptions.items():
        delta = _delta(stats, before.subscriptions.get((subscriber, publication)))
        if delta is not None:
            down.setdefault(subscriber, []).append((stats, delta))
    up: dict[str, int] = {}
    for publication, stats in now.publications.items():
        delta = _delta(stats, before.publications.get(publication))
        owner = publishers.get(publication)
        if delta is not None and owner is not None:
            up[owner] = up.get(owner, 0) + delta[2]

    result: dict[str, Reading] = {}
    for participant in down.keys() | up.keys():
        tracks = down.get(participant, [])
        rtts = [s.rtt_ms for s, _ in tracks if s.rtt_ms is not None]
        jitters = [s.jitter_ms for s, _ in tracks if s.jitter_ms is not None]
        result[participant] = Reading(
            sent=sum(d[0] for _, d in tracks), lost=sum(d[1] for _, d in tracks),
            rtt_ms=fmean(rtts) if rtts else None,
            jitter_ms=max(jitters) if jitters else None,
            down_kbps=sum(d[2] for _, d in tracks) * 8 / elapsed_s / 1000,
            up_kbps=up.get(participant, 0) * 8 / elapsed_s / 1000,
        )
    return result


@dataclass
class Minute:
    """The readings of one participant within one minute, summed up as a `LinkSample`."""

    lesson_id: int
    participant_id: str
    minute: datetime
    samples: int = 0
    sent: int = 0
    lost: int = 0
    rtts: list[float] = field(default_factory=list)
    jitters: list[float] = field(default_factory=list)
    down_kbps: float = 0.0  # sums, divided by `samples` when read
    up_kbps: float = 0.0
    reports: int = 0  # the participant's own reports (`ViewerReport`)
    fps: list[float] = field(default_factory=list)
    freezes: int = 0
    freeze_ms: int = 0

    def add(self, reading: Reading) -> None:
        self.samples += 1
        self.sent += reading.sent
        self.lost += reading.lost
        if reading.rtt_ms is not None:
            self.rtts.append(reading.rtt_ms)
        if reading.jitter_ms is not None:
            self.jitters.append(reading.jitter_ms)
        self.down_kbps += reading.down_kbps
        self.up_kbps += reading.up_kbps

    def report(self, report: ViewerReport) -> None:
        self.reports += 1
        if report.fps is not None:
            self.fps.append(report.fps)
        self.freezes += report.freezes
        self.freeze_ms += report.freeze_ms

    @property
    def empty(self) -> bool:
        return not self.samples and not self.reports

    def row(self) -> dict[str, object]:
        """The columns of its `LinkSample`."""
        n = max(1, self.samples)
        return {
            "lesson_id": self.lesson_id, "participant_id": self.participant_id,
            "minute": self.minute, "samples": self.samples,
            "rtt_ms": round(fmean(self.rtts), 1) if self.rtts else None,
            "loss_pct": round(min(100.0, 100 * self.lost / self.sent), 2) if self.sent else None,
            "jitter_ms": round(fmean(self.jitters), 1) if self.jitters else None,
            "down_kbps": round(self.down_kbps / n, 1), "up_kbps": round(self.up_kbps / n, 1),
            "fps": round(fmean(self.fps), 1) if self.fps else None,
            "freezes": self.freezes, "freeze_ms": min(self.freeze_ms, 60_000),
        }


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)
