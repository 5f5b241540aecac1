"""A recording segment on disk: one Matroska file written by PyAV (libavformat), remuxed from
the publisher's encoded frames.

Why Matroska:
- It takes every codec the relay forwards as is: VP8 (which MP4 does not carry in practice),
  H.264 and Opus. WebM would refuse H.264 from classroom hardware.
- It survives the process being killed at any moment. The header (EBML, Segment of unknown
  size, Tracks) is complete on disk before the first frame; after that the file is a sequence
  of self-contained Clusters, and libavformat's demuxer reads a file that ends mid-cluster up
  to the last complete one. Only the index (Cues) and the Duration are written at a clean
  close, and players do without them. Fragmented MP4 offers the same property but needs VP8
  in MP4 (`vp08`), which many players and ffmpeg builds refuse.
- What a SIGKILL loses is bounded: libavformat keeps the open Cluster in memory and writes it
  when it closes, every `CLUSTER_MS`; its interleaving queue holds at most `INTERLEAVE_US`;
  what is written is flushed to the kernel at once (`flush_packets`). So about the last half
  second is lost (measured: a recording killed 4 s in plays 3.7–4.0 s). A power cut loses
  the page cache too, so the file is also fsync'ed every `SYNC_S`.

PyAV has no public way to give a codec-less muxing stream its extradata (avcC, OpusHead), so
each stream is made from a template stream of a scratch container that is never written: a
stream made from a template keeps a codec context for its parameters but is never opened,
so no encoder or decoder starts. This is checked against the pinned PyAV by the tests.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer
from av.stream import Stream

from ..interface import RecordingTrack
from .codecs import Sample, TrackConfig

CLUSTER_MS = 500
INTERLEAVE_US = 100_000
SYNC_S = 5.0
TIME_BASE = Fraction(1, 1000)  # the recording clock's unit, and Matroska's default
_CODEC_NAMES = {"video/vp8": "vp8", "video/h264": "h264", "audio/opus": "opus"}


class SegmentFile:
    """One open segment file. Used from the recording's writer thread only."""

    def __init__(self, path: Path, configs: dict[RecordingTrack, TrackConfig], title: str):
        self.path = path
        self.configs = configs
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self._container: OutputContainer = av.open(
            str(path), "w", format="matroska",
            container_options={"cluster_time_limit": str(CLUSTER_MS), "flush_packets": "1",
                               "max_interleave_delta": str(INTERLEAVE_US)})
        try:
            self._streams = self._add_streams(configs)
            self._container.metadata["title"] = title
            self._container.start_encoding()  # the header reaches the disk now
            self._sync_fd: int | None = os.open(path, os.O_RDONLY)
        except BaseException:
            self._container.close()
            raise

    def _add_streams(self, configs: dict[RecordingTrack, TrackConfig]
                     ) -> dict[RecordingTrack, Stream]:
        scratch = av.open(io.BytesIO(), "w", format="matroska")  # never started or written
        streams = {}
        try:
            for track in RecordingTrack:  # camera, screen, audio: the same order in every file
                config = configs.get(track)
                if config is None:
                    continue
                template = scratch.add_stream(_CODEC_NAMES[config.mime_type.lower()])
                stream = self._container.add_stream_from_template(template, opaque=True)
                context = stream.codec_context
                if config.extradata is not None:
                    context.extradata = config.extradata
                if config.width and config.height:
                    context.width, context.height = config.width, config.height
                stream.time_base = TIME_BASE
                stream.metadata["title"] = track.value  # which track is the camera, the screen
                streams[track] = stream
        finally:
            scratch.close()
        return streams

    def write(self, track: RecordingTrack, pts_ms: int, sample: Sample) -> None:
        packet = av.Packet(sample.data)
        packet.stream = self._streams[track]
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = pts_ms
        packet.is_keyframe = sample.keyframe
        self._container.mux(packet)
        if self.first_ms is None or pts_ms < self.first_ms:
            self.first_ms = pts_ms
        if self.last_ms is None or pts_ms > self.last_ms:
            self.last_ms = pts_ms

    def sync(self) -> None:
        """Ask the kernel to put what was written on the disk (survives a power cut)."""
        if self._sync_fd is not None:
            os.fsync(self._sync_fd)

    def close(self) -> None:
        """Write the index and duration and close the file; safe to call twice."""
        try:
            self._container.close()
            self.sync()
        finally:
            if self._sync_fd is not None:
                os.close(self._sync_fd)
                self._sync_fd = None

    @property
    def duration_s(self) -> float:
        if self.first_ms is None or self.last_ms is None:
            return 0.0
        return (self.last_ms - self.first_ms) / 1000
