"""The writer of one Recording, run in its own thread: packets in, segment files out.

Everything slow happens here, never on the event loop: putting packets in order, depacketizing,
muxing and writing to disk. The loop side talks to it through one queue, in order: `Bind`
(a track's source changed), packet tuples from `RecordingTap.forward`, and `STOP`.

Segments: a segment file is opened when every track that has a source knows its codec
configuration (a video track learns it from its first key frame), or `HEADER_WAIT_S` after the
first frame waits, whichever is first; frames wait in memory until then. The open segment goes
on across gaps and source switches in the same codec. A track changing codec, or one that was
not in the segment's header (the screen started later), closes it and starts the next one, in
which every video track starts at a key frame (asked for: a short gap in the other tracks).
"""

from __future__ import annotations

import logging
import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import av

from ..interface import (
    MediaEvent,
    RecordingFailed,
    RecordingSegmentClosed,
    RecordingSegmentOpened,
    RecordingTrack,
)
from ..rtp.depacketize import DepacketizeError
from .assembler import GAP, Frame, FrameAssembler, Gap, Packet
from .codecs import Sample, SampleFormat, TrackConfig, sample_format
from .container import SYNC_S, SegmentFile
from .timeline import TrackClock

log = logging.getLogger("kelian.recording")

HEADER_WAIT_S = 2.0  # how long frames wait for the other tracks' first key frames
KEYFRAME_RETRY_S = 0.3  # while a video track waits for a key frame, ask this often
TICK_S = 0.1
BATCH_S = 0.02


class Source(Protocol):
    """A Producer bound to a recorded track, as the writer sees it (a `RecordingTap`)."""

    track: RecordingTrack
    mime_type: str
    clock_rate: int


class Outbox(Protocol):
    """The writer's way back to the event loop; every call is thread-safe."""

    def event(self, event: MediaEvent) -> None: ...

    def want_keyframe(self, source: Source) -> None: ...

    def writer_failed(self) -> None: ...


@dataclass(frozen=True)
class Bind:
    track: RecordingTrack
    source: Source | None


class Stop:
    pass


STOP = Stop()
# (source, extended seq, extended timestamp, marker, packet bytes, payload start, payload end,
# arrival): what `RecordingTap.forward` queues, left unparsed for the writer.
PacketItem = tuple[Source, int, int, bool, bytes | bytearray, int, int, float]


@dataclass
class _Track:
    name: RecordingTrack
    clock: TrackClock = field(default_factory=TrackClock)
    source: Source | None = None
    format: SampleFormat | None = None
    assembler: FrameAssembler | None = None
    config: TrackConfig | None = None  # of the current source, known from its first key frame
    waiting_for_keyframe: bool = False
    asked_at: float = float("-inf")
    bad_frames: int = 0


class RecordingWriter:
    def __init__(self, recording_id: str, directory: Path, started_at: float, outbox: Outbox):
        self.recording_id = recording_id
        self.directory = directory
        self.segments: list[Path] = []
        self._started_at = started_at  # the recording clock's zero, in monotonic seconds
        self._outbox = outbox
        self._tracks = {name: _Track(name) for name in RecordingTrack}
        self._segment: SegmentFile | None = None
        self._index = 0
        self._pending: list[tuple[RecordingTrack, int, Sample]] = []
        self._pending_configs: dict[RecordingTrack, TrackConfig] = {}
        self._pending_since: float | None = None
        self._synced_at = 0.0
        self._failed = False

    def run(self, inbox: queue.SimpleQueue[object]) -> list[Path]:
        """Write until `STOP` (or a failure); return the segment files."""
        try:
            self._serve(inbox)
            if not self._failed:
                self._finish()
        except (av.FFmpegError, OSError) as exc:
            self._fail(f"could not write: {exc}")
        except Exception as exc:  # a bug must end the Recording visibly, not the thread silently
            log.exception("recording %s: writer failed", self.recording_id)
            self._fail(f"internal error: {exc!r}")
        return list(self.segments)

    def _serve(self, inbox: queue.SimpleQueue[object]) -> None:
        ticked = time.monotonic()
        while not self._failed:
            try:
                item: object | None = inbox.get(timeout=TICK_S)
            except queue.Empty:
                item = None
            now = time.monotonic()
            while item is not None and not self._failed:  # the whole batch that gathered
                if item is STOP:
                    return
                if isinstance(item, tuple):
                    self._packet(item, now)  # type: ignore[arg-type]
                elif isinstance(item, Bind):
                    self._bind(item, now)
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    item = None
            if now - ticked >= TICK_S:
                ticked = now
                self._tick(now)
            # Let packets gather: one wake-up (and one grab of the GIL from the event loop) per
            # batch rather than per packet.
            time.sleep(BATCH_S)

    # Packets to frames --------------------------------------------------------------------------

    def _packet(self, item: PacketItem, now: float) -> None:
        source, seq, timestamp, marker, data, start, end, arrival = item
        track = self._tracks[source.track]
        if track.source is not source or track.assembler is None:
            return  # from a source the track no longer records
        packet = Packet(seq, timestamp, marker, bytes(data[start:end]), arrival)
        for out in track.assembler.push(packet):
            self._frame(track, out, now)

    def _bind(self, bind: Bind, now: float) -> None:
        track = self._tracks[bind.track]
        if track.assembler is not None:  # the old source's last complete frames
            for out in track.assembler.flush():
                self._frame(track, out, now)
        track.source, track.format, track.assembler = bind.source, None, None
        if bind.source is None:
            return
        track.format = sample_format(bind.source.mime_type)
        if track.format is None:
            log.warning("recording %s: %s cannot be recorded", self.recording_id,
                        bind.source.mime_type)
            track.source = None
            return
        track.assembler = FrameAssembler(track.format.starts_frame,
                                         packet_per_frame=not track.format.video)
        track.clock.restart(bind.source.clock_rate)
        track.config = None
        track.waiting_for_keyframe = track.format.video
        track.asked_at = float("-inf")

    def _frame(self, track: _Track, out: Frame | Gap, now: float) -> None:
        assert track.format is not None
        if out is GAP:
            if track.format.video:
                self._need_keyframe(track, now)
            return
        assert isinstance(out, list)
        try:
            sample = track.format.sample([packet.payload for packet in out])
        except DepacketizeError as exc:
            track.bad_frames += 1
            log.debug("recording %s: %s frame dropped: %s", self.recording_id, track.name, exc)
            if track.format.video:
                self._need_keyframe(track, now)
            return
        if track.waiting_for_keyframe:
            if not sample.keyframe or sample.config is None:
                self._ask_keyframe(track, now)
                return
            track.waiting_for_keyframe = False
        if sample.config is not None:
            track.config = sample.config
        arrival_ms = (out[-1].arrival - self._started_at) * 1000
        pts = track.clock.pts_ms(out[0].timestamp, arrival_ms)
        self._write(track, pts, sample, now)

    def _need_keyframe(self, track: _Track, now: float) -> None:
        """Frames that depend on a lost one would decode as garbage: skip to a key frame."""
        track.waiting_for_keyframe = True
        self._ask_keyframe(track, now)

    def _ask_keyframe(self, track: _Track, now: float) -> None:
        if track.source is not None and now - track.asked_at >= KEYFRAME_RETRY_S:
            track.asked_at = now
            self._outbox.want_keyframe(track.source)

    # Frames to segments -------------------------------------------------------------------------

    def _write(self, track: _Track, pts: int, sample: Sample, now: float) -> None:
        config = track.config
        assert config is not None
        if self._segment is not None:
            header = self._segment.configs.get(track.name)
            if header is not None and header.mime_type == config.mime_type:
                self._segment.write(track.name, pts, sample)
                return
            self._close_segment()  # a new track or a new codec: the next segment starts here
            self._restart_video(track, now)
        waiting = self._pending_configs.get(track.name)
        if waiting is not None and waiting.mime_type != config.mime_type:
            self._open_segment()  # what waits goes out in its own codec first
            self._close_segment()
            self._restart_video(track, now)
        self._pending_configs.setdefault(track.name, config)
        self._pending.append((track.name, pts, sample))
        if self._pending_since is None:
            self._pending_since = now
        self._open_when_ready(now)

    def _restart_video(self, starting: _Track, now: float) -> None:
        """A new segment: the other video tracks' next frames would refer to pictures in the
        last file, so each of them starts again at a key frame (`starting` is at one)."""
        for track in self._tracks.values():
            if track is not starting and track.format is not None and track.format.video:
                self._need_keyframe(track, now)

    def _open_when_ready(self, now: float) -> None:
        if not self._pending or self._pending_since is None:
            return
        unknown = any(t.source is not None and t.config is None
                      and t.name not in self._pending_configs for t in self._tracks.values())
        if unknown and now - self._pending_since < HEADER_WAIT_S:
            return
        self._open_segment()

    def _open_segment(self) -> None:
        configs = dict(self._pending_configs)
        for track in self._tracks.values():
            if track.source is not None and track.config is not None:
                configs.setdefault(track.name, track.config)
        path = self._reserve_path()
        try:
            segment = SegmentFile(path, configs, title=self.recording_id)
        except BaseException:
            path.unlink(missing_ok=True)  # no header, nothing playable
            raise
        self._segment = segment
        self.segments.append(path)
        pending, self._pending = self._pending, []
        self._pending_configs.clear()
        self._pending_since = None
        start_ms = min(pts for _, pts, _ in pending) if pending else 0
        self._outbox.event(RecordingSegmentOpened(self.recording_id, path, start_ms / 1000))
        for name, pts, sample in pending:
            segment.write(name, pts, sample)
        self._synced_at = time.monotonic()

    def _reserve_path(self) -> Path:
        """The next free `<recording id>.<n>.mkv`: files already there (a Recording resumed
        under the same id after a crash) are never overwritten."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            self._index += 1
            path = self.directory / f"{self.recording_id}.{self._index:03d}.mkv"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            return path

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        segment.close()
        start_s = (segment.first_ms or 0) / 1000
        self._outbox.event(RecordingSegmentClosed(self.recording_id, segment.path, start_s,
                                                  segment.duration_s))

    # Time passing, ending -----------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        for track in self._tracks.values():
            if track.assembler is not None:
                for out in track.assembler.tick(now):
                    self._frame(track, out, now)
            if track.waiting_for_keyframe:
                self._ask_keyframe(track, now)
        self._open_when_ready(now)
        if self._segment is not None and now - self._synced_at >= SYNC_S:
            self._synced_at = now
            self._segment.sync()

    def _finish(self) -> None:
        now = time.monotonic()
        for track in self._tracks.values():
            if track.assembler is not None:
                for out in track.assembler.flush():
                    self._frame(track, out, now)
        if self._pending:
            self._open_segment()
        self._close_segment()

    def _fail(self, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        log.warning("recording %s failed: %s", self.recording_id, reason)
        segment, self._segment = self._segment, None
        if segment is not None:
            try:
                segment.close()  # may fail again (disk still full): what is on disk stays
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self._outbox.event(RecordingFailed(self.recording_id, reason))
        self._outbox.writer_failed()
