"""Real library media for tests: a synthetic lesson made with PyAV and turned into the HLS ladder,
poster and thumbnails by media.renditions, exactly as the transcode job lays them out.

Made once per test session and copied into each Resource's directory (no media in git).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from media.renditions import make_renditions
from media.renditions.synthetic import make_lesson

_STREAM = re.compile(r"#EXT-X-STREAM-INF:.*?BANDWIDTH=(\d+).*?RESOLUTION=(\d+)x(\d+)")


@dataclass(frozen=True)
class RungFiles:
    name: str
    width: int
    height: int
    bandwidth: int
    playlist: str  # relative to the rendition directory
    bytes: int


@dataclass(frozen=True)
class HlsFiles:
    """A finished rendition directory: master.m3u8, <rung>/index.m3u8 + segments, stills."""

    directory: Path
    duration: float
    rungs: tuple[RungFiles, ...]  # tallest first

    def copy_to(self, target: Path) -> None:
        shutil.copytree(self.directory, target)


def make_hls(folder: Path, seconds: float = 6, width: int = 1280, height: int = 720) -> HlsFiles:
    """A `seconds`-long 720p lesson (test pattern and a tone) as 720p + 360p HLS in `folder`/hls."""
    folder.mkdir(parents=True, exist_ok=True)
    source = make_lesson(folder / "lesson.mkv", seconds, width, height, fps=25)
    result = make_renditions(source, folder / "hls")
    return read_hls(result.directory, result.duration)


def read_hls(directory: Path, duration: float) -> HlsFiles:
    lines = (directory / "master.m3u8").read_text().splitlines()
    rungs = []
    for info, uri in zip(lines, lines[1:], strict=False):
        if found := _STREAM.match(info):
            playlist = directory / uri
            size = sum(p.stat().st_size for p in playlist.parent.iterdir() if p.suffix == ".ts")
            rungs.append(RungFiles(name=playlist.parent.name, width=int(found.group(2)),
                                   height=int(found.group(3)), bandwidth=int(found.group(1)),
                                   playlist=uri, bytes=size))
    rungs.sort(key=lambda r: -r.height)
    return HlsFiles(directory=directory, duration=duration, rungs=tuple(rungs))
