"""Camera and courseware side by side in one video, through one filter graph.

Two recordings of the same lesson (the teacher's camera, the shared courseware screen), in two
files or as two video tracks of one relay recording, become one file: both are scaled to the
same height, brought to the camera's frame rate (a screen share sends few, irregular frames)
and stacked left to right, courseware first; the camera file's sound goes along. The result is
an ordinary source for `make_renditions`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer, OutputContainer
from av.filter import Graph
from av.filter.context import FilterContext
from av.packet import Packet
from av.stream import Stream
from av.video.frame import PictureType, VideoFrame
from av.video.stream import VideoStream

from .errors import RenditionError
from .pipeline import CancelCheck
from .probe import probe

LAYOUT_CRF = "18"  # an intermediate: high quality, the ladder encodes it again
HOLD = 0.5  # seconds an input may go without a new frame before its last one is repeated


@dataclass(frozen=True)
class Track:
    """One video track to lay out."""

    path: Path
    stream: int | str = 0  # which video stream: its index among them, or its title
    offset: float = 0.0  # seconds after the lesson's start at which this file starts


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def side_by_side(camera: Path | Track, courseware: Path | Track, output: Path, *,
                 height: int = 720, should_cancel: CancelCheck | None = None) -> Path:
    """Write `output` (Matroska: H.264, and the camera file's audio as it is). For a relay
    recording with both tracks: `side_by_side(Track(f, "camera"), Track(f, "screen"), out)`."""
    tracks = [t if isinstance(t, Track) else Track(t) for t in (camera, courseware)]
    starts = [probe(t.path).start - t.offset for t in tracks]  # and refuse what cannot be read
    tmp = output.with_name(f".{output.name}.partial")
    try:
        with av.open(str(tracks[0].path), metadata_errors="ignore") as cam, \
                av.open(str(tracks[1].path), metadata_errors="ignore") as slides, \
                av.open(str(tmp), "w", format="matroska") as out:
            inputs = [(cam, _video(cam, tracks[0])), (slides, _video(slides, tracks[1]))]
            _Compositor(inputs, starts, out, height, should_cancel).run()
        tmp.replace(output)
    except av.error.FFmpegError as exc:
        raise RenditionError("failed", f"laying out {tracks[0].path.name} and "
                             f"{tracks[1].path.name}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _video(container: InputContainer, track: Track) -> VideoStream:
    streams = list(container.streams.video)
    if isinstance(track.stream, int):
        if track.stream < len(streams):
            return streams[track.stream]
    else:
        for stream in streams:
            if stream.metadata.get("title") == track.stream:
                return stream
    raise RenditionError("no_video", f"{track.path.name} has no video track {track.stream!r}")


class _Compositor:
    def __init__(self, inputs: list[tuple[InputContainer, VideoStream]], starts: list[float],
                 out: OutputContainer, height: int, should_cancel: CancelCheck | None):
        self.inputs = inputs
        self.starts = starts
        self.height = height
        self.should_cancel = should_cancel
        self.out = out
        camera = inputs[0][1]
        self.rate = camera.average_rate if camera.average_rate and camera.average_rate > 0 \
            else Fraction(30)
        for _, stream in inputs:
            stream.codec_context.thread_type = "AUTO"
        audio = next(iter(inputs[0][0].streams.audio), None)
        self.audio_in: Stream | None = audio
        self.audio_out = out.add_stream_from_template(audio) if audio is not None else None
        self.video: Stream | None = None
        self._pending: list[Packet] = []
        self.frames_out = 0
        self.sources: list[FilterContext] = []

    def _open(self, firsts: list[VideoFrame]) -> FilterContext:
        """The encoder and the graph, sized from each input's first frame."""
        aspects = [s.codec_context.sample_aspect_ratio or 1 for _, s in self.inputs]
        widths = [_even(self.height * f.width * float(sar) / f.height)
                  for f, sar in zip(firsts, aspects, strict=True)]
        self.video = self.out.add_stream("libx264", rate=self.rate)
        ctx = self.video.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = sum(widths), self.height, "yuv420p"
        ctx.time_base = 1 / self.rate
        ctx.thread_type = "AUTO"
        ctx.options = {"preset": "veryfast", "crf": LAYOUT_CRF}
        graph = Graph()
        stack = graph.add("hstack", "inputs=2")
        # Courseware on the left (input 0 of the stack), the camera on the right.
        for index, stack_input in ((0, 1), (1, 0)):
            source = graph.add_buffer(template=firsts[index])
            scale = graph.add("scale", f"{widths[index]}:{self.height}")
            # start_time=0: a late-starting input shows its first frame from the beginning.
            pace = graph.add("fps", f"fps={self.rate}:start_time=0")
            graph.link_nodes(source, scale, pace)
            pace.link_to(stack, 0, stack_input)
            self.sources.append(source)
        pixels = graph.add("format", "yuv420p")
        sink = graph.add("buffersink")
        graph.link_nodes(stack, pixels, sink)
        graph.configure()
        self.graph = graph
        return sink

    def _frames(self, index: int) -> Iterator[tuple[float, int, VideoFrame]]:
        """Decoded frames of one input with their lesson time; the camera file's audio packets
        are muxed on the way."""
        container, video = self.inputs[index]
        start = self.starts[index]
        audio = self.audio_in if index == 0 else None
        for packet in container.demux([video] + ([audio] if audio is not None else [])):
            if packet.stream is video:
                for frame in packet.decode():
                    assert isinstance(frame, VideoFrame)
                    if frame.pts is not None:
                        yield float(frame.pts * video.time_base) - start, index, frame
            elif packet.pts is not None and self.audio_out is not None:
                shift = round(Fraction(self.starts[0]).limit_denominator(10**6)
                              / packet.time_base)
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
                packet.stream = self.audio_out
                self._mux_audio(packet)

    def _mux_audio(self, packet: Packet) -> None:
        if self.video is None:  # the header waits for the video stream, sized by first frames
            self._pending.append(packet)
            return
        for waiting in self._pending:
            self.out.mux(waiting)
        self._pending.clear()
        self.out.mux(packet)

    def run(self) -> None:
        streams = [self._frames(0), self._frames(1)]
        firsts = [next(s, None) for s in streams]
        if firsts[0] is None or firsts[1] is None:
            raise RenditionError("corrupt", "a track to lay out has no decodable frame")
        sink = self._open([firsts[0][2], firsts[1][2]])
        merged = heapq.merge(*(_chain(first, rest) for first, rest in zip(firsts, streams,
                                                                          strict=True)),
                             key=lambda item: item[0])
        last: list[tuple[float, VideoFrame] | None] = [None, None]
        for count, (t, index, frame) in enumerate(merged):
            if self.should_cancel is not None and count % 16 == 0 and self.should_cancel():
                raise RenditionError("cancelled", "the layout was cancelled")
            other = last[1 - index]
            if other is not None and t - other[0] > HOLD:
                # The stack waits for every input's next frame: a screen share that sends none
                # for minutes would pile up the camera's in memory. Its last frame again, now.
                self._push(1 - index, other[1], t)
                last[1 - index] = (t, other[1])
            self._push(index, frame, t)
            last[index] = (t, frame)
            self._drain(sink)
        for source in self.sources:
            source.push(None)
        self._drain(sink)
        assert self.video is not None
        self.out.mux(self.video.encode(None))

    def _push(self, index: int, frame: VideoFrame, t: float) -> None:
        tb = self.inputs[index][1].time_base
        frame.pts = round(Fraction(t).limit_denominator(10**6) / tb)  # the source copies it
        frame.pict_type = PictureType.NONE
        self.sources[index].push(frame)

    def _drain(self, sink: FilterContext) -> None:
        assert self.video is not None
        while True:
            try:
                frame = sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            self.frames_out += 1
            self.out.mux(self.video.encode(frame))


def _chain(first: tuple[float, int, VideoFrame],
           rest: Iterator[tuple[float, int, VideoFrame]]) -> Iterator[tuple[float, int, VideoFrame]]:
    yield first
    yield from rest
