"""The poster and the seek-bar thumbnails, taken from frames the transcoding pass decodes anyway.

The poster is the first frame at or after 10 % (then 15 %, 20 % …) of the video that is neither
dark nor blank, falling back to the liveliest one seen. Thumbnails (one every `interval` seconds)
go through one small filter graph that scales and tiles them into a sprite; a WebVTT file maps
each time range to its tile (`sprite.jpg#xywh=x,y,w,h`), as video players' seek bars expect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.filter import Graph
from av.video.frame import VideoFrame

POSTER_AT = (0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60)  # fractions of the duration, in order
POSTER_MAX = (1280, 720)
THUMB_WIDTH = 160
SPRITE_COLUMNS = 10
MIN_MEAN_LUMA = 40  # 16 is black in limited-range video
MIN_LUMA_SPREAD = 8  # a uniform frame (a blank screen) is no poster either
JPEG_QUALITY = ("2", "5")  # qmin, qmax of the MJPEG encoder: lower is better


@dataclass(frozen=True)
class StillFiles:
    poster: Path
    sprite: Path
    vtt: Path
    thumbnail_interval: float
    thumbnails: int


def thumbnail_interval(duration: float) -> int:
    """Whole seconds between thumbnails: about a hundred per video, 1 to 10 s apart."""
    return min(10, max(1, math.ceil(duration / 100)))


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _luma_stats(frame: VideoFrame) -> tuple[float, float]:
    small = frame.reformat(64, 36, "gray")
    plane = small.planes[0]
    data = bytes(plane)
    values = b"".join(data[row * plane.line_size: row * plane.line_size + 64] for row in range(36))
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, spread


def write_jpeg(frame: VideoFrame, path: Path, width: int, height: int) -> None:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuvj420p"  # full-range 4:2:0, what JPEG viewers expect
    codec.time_base = Fraction(1, 1)
    codec.options = {"qmin": JPEG_QUALITY[0], "qmax": JPEG_QUALITY[1]}
    image = frame if (frame.width, frame.height, frame.format.name) == (width, height, "yuvj420p") \
        else frame.reformat(width, height, "yuvj420p", interpolation="BICUBIC")
    image.pts = 0
    path.write_bytes(b"".join(bytes(p) for p in [*codec.encode(image), *codec.encode(None)]))


class Stills:
    def __init__(self, duration: float, display_width: int, height: int):
        self.duration = duration
        self.interval = thumbnail_interval(duration)
        self.count = max(1, math.ceil(duration / self.interval))
        self.columns = min(SPRITE_COLUMNS, self.count)
        self.rows = math.ceil(self.count / self.columns)
        self.thumb_size = (THUMB_WIDTH, _even(THUMB_WIDTH * height / display_width))
        scale = min(1.0, POSTER_MAX[0] / display_width, POSTER_MAX[1] / height)
        self.poster_size = (_even(display_width * scale), _even(height * scale))
        self._taken = 0
        self._graph: Graph | None = None
        self._source: av.filter.context.FilterContext | None = None
        self._sink: av.filter.context.FilterContext | None = None
        self._poster_times = [duration * at for at in POSTER_AT]
        self._poster: VideoFrame | None = None
        self._best: tuple[float, VideoFrame] | None = None

    def wants(self, t: float) -> bool:
        """Cheap check before `offer`: does a frame at `t` seconds fill a slot?"""
        return (self._taken < self.count and t >= self._taken * self.interval) or (
            self._poster is None and bool(self._poster_times) and t >= self._poster_times[0])

    def offer(self, frame: VideoFrame, t: float) -> None:
        while self._taken < self.count and t >= self._taken * self.interval:
            self._push_thumbnail(frame)  # again for each slot a gap in the video skipped
            self._taken += 1
        if self._poster is None and self._poster_times and t >= self._poster_times[0]:
            while self._poster_times and t >= self._poster_times[0]:
                self._poster_times.pop(0)
            mean, spread = _luma_stats(frame)
            if mean >= MIN_MEAN_LUMA and spread >= MIN_LUMA_SPREAD:
                self._poster = frame
            elif self._best is None or spread * min(1.0, mean / 64) > self._best[0]:
                self._best = (spread * min(1.0, mean / 64), frame)

    def _push_thumbnail(self, frame: VideoFrame) -> None:
        if self._graph is None:
            graph = Graph()
            self._source = graph.add_buffer(template=frame)
            scale = graph.add("scale", f"{self.thumb_size[0]}:{self.thumb_size[1]}")
            pixels = graph.add("format", "yuvj420p")
            tile = graph.add("tile", f"{self.columns}x{self.rows}")
            self._sink = graph.add("buffersink")
            graph.link_nodes(self._source, scale, pixels, tile, self._sink)
            graph.configure()
            self._graph = graph
        assert self._source is not None
        self._source.push(frame)

    def finish(self, directory: Path, fallback: VideoFrame | None = None) -> StillFiles:
        """Write poster.jpg, sprite.jpg and thumbnails.vtt; `fallback` (the last frame) serves
        when the video ended before any poster time."""
        poster = self._poster or (self._best[1] if self._best else None) or fallback
        if poster is None:
            raise ValueError("no frame was offered")
        files = StillFiles(directory / "poster.jpg", directory / "sprite.jpg",
                           directory / "thumbnails.vtt", float(self.interval), self._taken)
        write_jpeg(poster, files.poster, *self.poster_size)
        if self._taken == 0:
            self._push_thumbnail(poster)
            self._taken = 1
        assert self._source is not None and self._sink is not None
        self._source.push(None)
        sprite = self._sink.pull()  # tile emits its partly filled grid at the end
        assert isinstance(sprite, VideoFrame)
        write_jpeg(sprite, files.sprite, sprite.width, sprite.height)
        files.vtt.write_text(self._vtt(files.sprite.name))
        return files

    def _vtt(self, sprite_name: str) -> str:
        w, h = self.thumb_size
        cues = ["WEBVTT", ""]
        for index in range(self._taken):
            start = index * self.interval
            end = min(self.duration, start + self.interval)
            if end <= start:
                break
            x, y = (index % self.columns) * w, (index // self.columns) * h
            cues += [f"{vtt_time(start)} --> {vtt_time(end)}",
                     f"{sprite_name}#xywh={x},{y},{w},{h}", ""]
        return "\n".join(cues)


def vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"
