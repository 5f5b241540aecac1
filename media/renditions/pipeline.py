"""The one decoding pass that writes every rung's HLS media playlist and feeds the stills.

Throughput comes from three choices (design.md, "Recording and library"): the decoder and every
encoder run with thread_type "AUTO" (frame and slice threads), all rungs are scaled by ONE filter
graph (buffer → split → scale → buffersink per rung) instead of per-frame `reformat`, and the
audio is encoded to AAC once and the same packets are muxed into every rung. A rung whose size
the source already has in H.264 is remuxed; the encoded rungs then take their keyframes exactly
where the source has them, so that the HLS segmenter cuts every rung at the same instants.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.filter import Graph
from av.packet import Packet
from av.video.frame import PictureType, VideoFrame

from .audio import SharedAudio
from .errors import RenditionError
from .hls import avc_codec_string
from .plan import GOP_SECONDS, RungPlan
from .probe import MediaFacts
from .rungs import RungOutput, open_rung
from .stills import Stills

ProgressCallback = Callable[[float, float], None]  # (fraction done 0..1, speed × real time)
CancelCheck = Callable[[], bool]

PROGRESS_EVERY = 0.5  # seconds of wall time between progress reports
# Every rung's timeline starts this late, so that no encoder's or source's decode timestamps
# (B-frames) go below zero: the muxer would otherwise shift each rung by its own amount.
TIMELINE_LEAD = 1.0


class Pass:
    def __init__(self, source: Path, facts: MediaFacts, plans: list[RungPlan], directory: Path,
                 stills: Stills, on_progress: ProgressCallback | None,
                 should_cancel: CancelCheck | None):
        self.facts = facts
        self.plans = plans
        self.directory = directory
        self.stills = stills
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.input: InputContainer = av.open(str(source), metadata_errors="ignore")
        self.outputs: list[RungOutput] = []
        self.graph: Graph | None = None
        self.frames = 0
        self.decode_errors = 0
        self.last_frame: VideoFrame | None = None
        self._last_pts: int | None = None
        self._source_keyframes: set[int] = set()
        self._next_keyframe = 0.0
        self._started = time.monotonic()
        self._reported = self._started
        # Long enough for six frames of delay even at a slideshow's frame rate.
        self.lead = Fraction(max(TIMELINE_LEAD, 6 / facts.fps)).limit_denominator(1000)

    # Setup -------------------------------------------------------------------------------

    def _open(self) -> None:
        video = next(s for s in self.input.streams.video
                     if not s.disposition & av.stream.Disposition.attached_pic)
        video.codec_context.thread_type = "AUTO"
        video.codec_context.thread_count = 0
        self.video = video
        self.video_origin = round((Fraction(self.facts.start) - self.lead) / video.time_base)
        self._frame_ticks = max(1, round(1 / (Fraction(self.facts.fps) * video.time_base)))
        rate = video.average_rate if video.average_rate and video.average_rate > 0 \
            else Fraction(self.facts.fps).limit_denominator(1001)
        self.outputs = [open_rung(plan, self.directory / plan.name, video, rate)
                        for plan in self.plans]
        self.copies = [o for o in self.outputs if o.plan.copy]
        self.encoded = [o for o in self.outputs if not o.plan.copy]
        source = next((s for s in self.input.streams.audio if s.codec_context is not None), None)
        self.audio = SharedAudio(source, self.outputs, Fraction(self.facts.start) - self.lead) \
            if source is not None else None

    def _build_graph(self, frame: VideoFrame) -> None:
        graph = Graph()
        source = graph.add_buffer(template=frame)
        branches = [source]
        if len(self.encoded) > 1:
            split = graph.add("split", str(len(self.encoded)))
            source.link_to(split)
            branches = [split] * len(self.encoded)
        for index, (out, branch) in enumerate(zip(self.encoded, branches, strict=True)):
            scale = graph.add("scale", f"{out.plan.width}:{out.plan.height}")
            pixels = graph.add("format", "yuv420p")
            sink = graph.add("buffersink")
            branch.link_to(scale, index if branch is not source else 0)
            scale.link_to(pixels)
            pixels.link_to(sink)
            out.sink = sink
        graph.configure()
        self.graph = graph

    # The pass ----------------------------------------------------------------------------

    def run(self) -> list[RungOutput]:
        try:
            self._open()
            count = 0
            for packet in self._packets():
                count += 1
                if self.should_cancel is not None and count % 16 == 0 and self.should_cancel():
                    raise RenditionError("cancelled", "the transcode was cancelled")
                if packet.pts is None and packet.dts is None:
                    continue  # demuxer flush packets; decoders are flushed below
                if packet.stream is self.video:
                    self._video_packet(packet)
                elif self.audio is not None:
                    self.audio.packet(packet)
            self._flush()
        except av.error.FFmpegError as exc:
            raise RenditionError("failed", f"transcoding stopped: {exc}") from exc
        finally:
            self.close()
        if self.frames == 0:
            raise RenditionError("corrupt", f"no video frame decoded ({self.decode_errors} errors)")
        self._report(1.0)
        return self.outputs

    def _packets(self) -> Iterator[Packet]:
        """The input's packets until its end or until its data breaks off (as the probe
        judged: what was readable is the lesson)."""
        streams = [self.video] + ([self.audio.source] if self.audio is not None else [])
        packets = self.input.demux(streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError:
                self.decode_errors += 1
                return
            yield packet

    def close(self) -> None:
        for out in self.outputs:
            try:
                out.container.close()
            except av.error.FFmpegError:
                pass  # a failed pass is thrown away whole
        self.input.close()

    def _video_packet(self, packet: Packet) -> None:
        _shift(packet, self.video_origin)
        if packet.is_keyframe and packet.pts is not None:
            self._source_keyframes.add(packet.pts)
        try:
            frames = self.video.codec_context.decode(packet)
        except av.error.InvalidDataError:
            self.decode_errors += 1  # damaged data: skip it, as players do
            frames = []
        if self.copies and not packet.duration:  # Matroska blocks often have none; the
            packet.duration = self._frame_ticks   # segmenter ends the last segment by it
        for out in self.copies:  # after decoding: muxing rebases the packet in place
            if not out.codecs and packet.is_keyframe:  # no avcC: Annex B with in-band SPS
                out.codecs += filter(None, [avc_codec_string(bytes(packet))])
            packet.stream = out.video
            out.container.mux(packet)
        for frame in frames:
            self._frame(frame)

    def _frame(self, frame: VideoFrame) -> None:
        tb = self.video.time_base
        if frame.pts is None:  # no timestamp at all: one frame interval after the last
            frame.pts = (self._last_pts or 0) + self._frame_ticks
        if self._last_pts is not None and frame.pts <= self._last_pts:
            return  # encoders need increasing timestamps; a repeated one adds nothing
        self._last_pts = frame.pts
        self.frames += 1
        self.last_frame = frame
        t = float(frame.pts * tb) - float(self.lead)  # seconds into the lesson
        if self.stills.wants(t):
            self.stills.offer(frame, t)
        if self.encoded:
            if self.graph is None:
                self._build_graph(frame)
            frame.pict_type = PictureType.I if self._keyframe(frame.pts, t) else PictureType.NONE
            self.graph.push(frame)  # type: ignore[union-attr]
            self._drain()
        now = time.monotonic()
        if now - self._reported >= PROGRESS_EVERY:
            self._reported = now
            self._report(min(1.0, t / self.facts.duration) if self.facts.duration else 0.0, t)

    def _keyframe(self, pts: int, t: float) -> bool:
        if self.copies:
            return pts in self._source_keyframes
        if t + 1e-6 >= self._next_keyframe:
            self._next_keyframe = (math.floor(t / GOP_SECONDS + 1e-6) + 1) * GOP_SECONDS
            return True
        return False

    def _drain(self, final: bool = False) -> None:
        for out in self.encoded:
            assert out.sink is not None
            while True:
                try:
                    scaled = out.sink.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
                self._mux_video(out, out.video.encode(scaled))
            if final:
                self._mux_video(out, out.video.encode(None))

    def _mux_video(self, out: RungOutput, packets: list[Packet]) -> None:
        for packet in packets:
            if not out.codecs:
                # In-band SPS, or (with a global header, as HLS asks for) the extradata's.
                codecs = avc_codec_string(bytes(packet)) or avc_codec_string(
                    out.video.codec_context.extradata or b"")
                if codecs:
                    out.codecs.append(codecs)
            out.container.mux(packet)

    def _flush(self) -> None:
        for frame in self.video.codec_context.decode(None):
            self._frame(frame)
        if self.graph is not None:  # None: not one frame decoded, reported below
            self.graph.push(None)
            self._drain(final=True)
        if self.audio is not None:
            self.audio.flush()

    def _report(self, fraction: float, media_seconds: float | None = None) -> None:
        if self.on_progress is None:
            return
        elapsed = max(1e-6, time.monotonic() - self._started)
        done = self.facts.duration * fraction if media_seconds is None else media_seconds
        self.on_progress(fraction, done / elapsed)


def _shift(packet: Packet, origin: int) -> None:
    """Timestamps from the lesson's start (plus the lead) on, the same in every rung."""
    if packet.pts is not None:
        packet.pts -= origin
    if packet.dts is not None:
        packet.dts -= origin
