"""One library item from several rendition parts, without transcoding again.

A Recording may come in several files (the relay restarted its writer, the lesson paused).
Each part gets its own `make_renditions` directory; `stitch` writes, beside them, one master
playlist, one media playlist per rung that plays the parts' segments in order (with a
discontinuity at each joint, since every part's timestamps start afresh) and one WebVTT file
whose cues point into each part's sprite. Nothing is copied: the playlists refer to the parts'
files by relative paths, so the whole directory can be moved as one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .errors import RenditionError
from .hls import SegmentStats, Variant, master_playlist, media_playlist, read_segments
from .make import MASTER, RenditionResult, Rung
from .stills import vtt_time

_CUE = re.compile(r"^(\d+):(\d\d):(\d\d)\.(\d{3}) --> (\d+):(\d\d):(\d\d)\.(\d{3})$")


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _rung_groups(parts: Sequence[RenditionResult]) -> list[list[Rung]]:
    """For each joined rung, the part rungs it plays: the names all parts have, tallest first;
    parts without a common name (their sizes differ) are joined at their lowest rungs."""
    common = [r.name for r in parts[0].rungs if all(r.name in {q.name for q in p.rungs}
                                                    for p in parts)]
    if common:
        return [[next(r for r in p.rungs if r.name == name) for p in parts] for name in common]
    return [[p.rungs[-1] for p in parts]]


def stitch(parts: Sequence[RenditionResult], directory: Path) -> RenditionResult:
    """Join `parts` (in playing order) into one rendition in `directory`, which usually holds
    the parts' own directories."""
    if not parts:
        raise RenditionError("failed", "nothing to stitch")
    directory.mkdir(parents=True, exist_ok=True)
    rungs: list[Rung] = []
    variants: list[Variant] = []
    for group in _rung_groups(parts):
        first = group[0]
        folder = directory / first.name
        folder.mkdir(exist_ok=True)
        segments = [[(d, _rel(r.playlist.parent / uri, folder)) for d, uri in
                     read_segments(r.playlist)] for r in group]
        playlist = folder / "index.m3u8"
        playlist.write_text(media_playlist(segments))
        durations = [d for part in segments for d, _ in part]
        total = sum(durations)
        peak = max(r.bandwidth for r in group)
        average = round(sum(r.average_bandwidth * sum(r.segments) for r in group) / total) \
            if total else 0
        rungs.append(Rung(first.name, first.width, first.height, peak, average, first.codecs,
                          playlist, all(r.copied for r in group), tuple(durations)))
        variants.append(Variant(f"{first.name}/index.m3u8", first.width, first.height,
                                parts[0].facts.fps, first.codecs,
                                SegmentStats(durations, peak, average)))
    master = directory / MASTER
    master.write_text(master_playlist(variants))
    vtt = directory / "thumbnails.vtt"
    vtt.write_text(_joined_vtt(parts, directory))
    elapsed = sum(p.elapsed for p in parts)
    duration = round(sum(p.duration for p in parts), 3)
    return RenditionResult(
        directory=directory, duration=duration, master=master, rungs=tuple(rungs),
        poster=parts[0].poster, sprite=parts[0].sprite, vtt=vtt,
        thumbnail_interval=parts[0].thumbnail_interval, facts=parts[0].facts,
        elapsed=round(elapsed, 3), speed=round(duration / elapsed, 3) if elapsed else 0.0)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _joined_vtt(parts: Sequence[RenditionResult], directory: Path) -> str:
    out = ["WEBVTT", ""]
    offset = 0.0
    for part in parts:
        lines = part.vtt.read_text().splitlines()
        for index, line in enumerate(lines):
            match = _CUE.match(line)
            if match is None or index + 1 >= len(lines):
                continue
            start = _seconds(*match.groups()[:4]) + offset
            end = _seconds(*match.groups()[4:]) + offset
            target = _rel(part.vtt.parent / lines[index + 1], directory)
            out += [f"{vtt_time(start)} --> {vtt_time(end)}", target, ""]
        offset += part.duration
    return "\n".join(out)
