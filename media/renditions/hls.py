"""HLS bookkeeping: the CODECS attribute, segment bitrates and the master playlist."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

AAC_LC = "mp4a.40.2"


def avc_codec_string(data: bytes) -> str | None:
    """RFC 6381 `avc1.PPCCLL` from an avcC record (MP4/Matroska extradata) or from the first SPS
    in an Annex B stream (an MPEG-TS packet)."""
    if len(data) >= 4 and data[0] == 1:  # avcC: version, profile, constraints, level
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    at = 0
    while True:
        at = data.find(b"\x00\x00\x01", at)
        if at < 0 or at + 6 > len(data):
            return None
        if data[at + 3] & 0x1F == 7:  # SPS: profile_idc, constraint flags, level_idc follow
            return f"avc1.{data[at + 4]:02x}{data[at + 5]:02x}{data[at + 6]:02x}"
        at += 3


@dataclass(frozen=True)
class SegmentStats:
    segments: list[float]  # durations, seconds, in playlist order
    peak_bitrate: int  # bits per second of the densest segment (HLS BANDWIDTH)
    average_bitrate: int  # AVERAGE-BANDWIDTH

    @property
    def duration(self) -> float:
        return sum(self.segments)


def read_segments(playlist: Path) -> list[tuple[float, str]]:
    """(duration, URI) of every segment of a media playlist, in order."""
    segments = []
    pending: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            segments.append((pending, line))
            pending = None
    return segments


def segment_stats(playlist: Path) -> SegmentStats:
    durations: list[float] = []
    peak = 0.0
    total_bits = 0
    for duration, uri in read_segments(playlist):
        bits = (playlist.parent / uri).stat().st_size * 8
        durations.append(duration)
        total_bits += bits
        if duration > 0:
            peak = max(peak, bits / duration)
    total = sum(durations)
    return SegmentStats(durations, round(peak), round(total_bits / total) if total else 0)


def media_playlist(parts: list[list[tuple[float, str]]]) -> str:
    """A VOD media playlist of `parts` played one after another; each part restarts its
    timestamps, hence a discontinuity between them."""
    longest = max((d for part in parts for d, _ in part), default=1.0)
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", f"#EXT-X-TARGETDURATION:{math.ceil(longest)}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for index, part in enumerate(parts):
        if index:
            lines.append("#EXT-X-DISCONTINUITY")
        for duration, uri in part:
            lines += [f"#EXTINF:{duration:.6f},", uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Variant:
    playlist: str  # relative to the master playlist
    width: int
    height: int
    fps: float
    codecs: str
    stats: SegmentStats


def master_playlist(variants: list[Variant]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.stats.peak_bitrate},"
            f"AVERAGE-BANDWIDTH={v.stats.average_bitrate},RESOLUTION={v.width}x{v.height},"
            f"FRAME-RATE={v.fps:.3f},CODECS=\"{v.codecs}\"")
        lines.append(v.playlist)
    return "\n".join(lines) + "\n"
