"""The recording writer and its segment files, fed packets directly (encoded here with PyAV,
packetized by the test packetizers): when segments start, what their headers hold, and that
writing them opens no encoder or decoder with the pinned PyAV."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from queue import SimpleQueue

import av
import pytest

from media.interface import (
    MediaEvent,
    RecordingSegmentClosed,
    RecordingSegmentOpened,
    RecordingTrack,
)
from media.recording import writer as writer_module
from media.recording.bitstream import avc_decoder_configuration, length_prefixed
from media.recording.codecs import Sample, TrackConfig
from media.recording.container import SegmentFile
from media.recording.writer import STOP, Bind, RecordingWriter, Source
from tests.media.recording_child import decode_times
from tests.media.test_depacketize import _annex_b_units, _encode, vp8_packets


@dataclass(frozen=True, eq=False)
class _Source:
    track: RecordingTrack
    mime_type: str
    clock_rate: int


@dataclass
class _Outbox:
    events: list[MediaEvent] = field(default_factory=list)
    keyframes_wanted: int = 0

    def event(self, event: MediaEvent) -> None:
        self.events.append(event)

    def want_keyframe(self, source: Source) -> None:
        self.keyframes_wanted += 1

    def writer_failed(self) -> None:
        raise AssertionError("the writer failed")


def _opus_packets(count: int) -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    out = []
    for i in range(count):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(bytes(960 * 4))
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
        out += [bytes(p) for p in encoder.encode(frame)]
    return out


class _Feed:
    """Packets as `RecordingTap.forward` queues them, one source at a time."""

    def __init__(self, inbox: SimpleQueue[object], source: _Source, frames: list[bytes]):
        self.inbox, self.source, self.frames = inbox, source, frames
        self.seq, self.index = 100, 0

    def send(self, arrival: float) -> None:
        frame = self.frames[self.index]
        ticks = 3000 if self.source.track is not RecordingTrack.audio else 960
        payloads = ([frame] if self.source.track is RecordingTrack.audio
                    else vp8_packets(frame, [300] * 20, self.index % 128, False, False))
        for i, payload in enumerate(payloads):
            self.inbox.put((self.source, self.seq, self.index * ticks, i == len(payloads) - 1,
                            payload, 0, len(payload), arrival))
            self.seq += 1
        self.index += 1


def _vp8_frames(count: int, width: int, height: int) -> list[bytes]:
    """A key frame every 10 frames (as if the publisher answered each keyframe request)."""
    return _encode("libvpx", width, height, frames=count, options={"deadline": "realtime",
                                                                   "g": "10"})


def test_a_track_joining_later_starts_a_segment_on_the_same_clock(tmp_path: Path) -> None:
    inbox: SimpleQueue[object] = SimpleQueue()
    outbox = _Outbox()
    camera = _Feed(inbox, _Source(RecordingTrack.camera, "video/VP8", 90000),
                   _vp8_frames(40, 320, 240))
    screen = _Feed(inbox, _Source(RecordingTrack.screen, "video/VP8", 90000),
                   _vp8_frames(20, 480, 270))
    audio = _Feed(inbox, _Source(RecordingTrack.audio, "audio/opus", 48000), _opus_packets(70))
    start = 1000.0
    inbox.put(Bind(RecordingTrack.camera, camera.source))
    inbox.put(Bind(RecordingTrack.audio, audio.source))
    for i in range(40):
        if i == 20:  # the courseware screen starts
            inbox.put(Bind(RecordingTrack.screen, screen.source))
        camera.send(start + i / 30)
        audio.send(start + i / 30)
        if i >= 20:
            screen.send(start + i / 30)
    inbox.put(STOP)
    segments = RecordingWriter("lesson", tmp_path, start, outbox).run(inbox)

    assert segments == [tmp_path / "lesson.001.mkv", tmp_path / "lesson.002.mkv"]
    assert [type(e) for e in outbox.events] == [RecordingSegmentOpened, RecordingSegmentClosed] * 2
    one, two = decode_times(segments[0]), decode_times(segments[1])
    assert set(one) == {"camera", "audio"} and set(two) == {"camera", "screen", "audio"}
    assert len(one["camera"]) == 21 and len(two["screen"]) == 20
    # The camera goes on in the new file from its next key frame (the writer asked for one).
    assert len(two["camera"]) == 10 and outbox.keyframes_wanted >= 1
    assert two["camera"][0] > one["camera"][-1] and two["audio"][0] > one["audio"][-1]
    assert two["screen"][0] == pytest.approx(20 / 30, abs=0.01)  # where it joined
    with av.open(str(segments[1])) as container:
        sizes = {s.metadata["title"]: (s.codec_context.width, s.codec_context.height)
                 for s in container.streams.video}
    assert sizes == {"camera": (320, 240), "screen": (480, 270)}


def test_a_silent_source_does_not_hold_the_recording_back(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "HEADER_WAIT_S", 0.2)
    inbox: SimpleQueue[object] = SimpleQueue()
    outbox = _Outbox()
    camera = _Feed(inbox, _Source(RecordingTrack.camera, "video/VP8", 90000),
                   _vp8_frames(10, 320, 240))
    audio = _Feed(inbox, _Source(RecordingTrack.audio, "audio/opus", 48000), _opus_packets(40))
    start = time.monotonic()
    writer = RecordingWriter("lesson", tmp_path, start, outbox)
    result: list[list[Path]] = []
    thread = threading.Thread(target=lambda: result.append(writer.run(inbox)))
    thread.start()
    inbox.put(Bind(RecordingTrack.camera, camera.source))  # bound, but sends nothing yet
    inbox.put(Bind(RecordingTrack.audio, audio.source))
    for _ in range(30):
        audio.send(time.monotonic())
        time.sleep(0.02)
    for _ in range(10):
        camera.send(time.monotonic())
        audio.send(time.monotonic())
        time.sleep(0.02)
    inbox.put(STOP)
    thread.join(timeout=10)

    opened = [e for e in outbox.events if isinstance(e, RecordingSegmentOpened)]
    assert result == [[e.path for e in opened]] and len(opened) == 2
    assert opened[0].start_s < 0.1  # audio went to disk without waiting for the camera
    one, two = decode_times(opened[0].path), decode_times(opened[1].path)
    assert set(one) == {"audio"} and set(two) == {"camera", "audio"}
    assert len(two["camera"]) == 10


def test_segment_streams_carry_the_configuration_and_open_no_codec(tmp_path: Path) -> None:
    """The template streams of `SegmentFile` (see media/recording/container.py) keep a codec
    context only for its parameters: with the pinned PyAV it is never opened."""
    packets = _encode("libx264", 642, 362, frames=10,
                      options={"profile": "high", "preset": "ultrafast", "bf": "0"})
    units = [_annex_b_units(p) for p in packets]
    sps = next(u for u in units[0] if u[0] & 0x1F == 7)
    pps = next(u for u in units[0] if u[0] & 0x1F == 8)
    configs = {
        RecordingTrack.camera: TrackConfig("video/H264", avc_decoder_configuration(sps, pps),
                                           642, 362),
        RecordingTrack.audio: TrackConfig("audio/opus", writer_module.sample_format(
            "audio/opus").sample([b"\xfc"]).config.extradata),  # type: ignore[union-attr]
    }
    segment = SegmentFile(tmp_path / "s.mkv", configs, title="lesson")
    contexts = [s.codec_context for s in segment._streams.values()]
    for i, frame_units in enumerate(units):
        segment.write(RecordingTrack.camera, 1000 + i * 33,
                      Sample(length_prefixed(frame_units), i == 0, None))
    for i, packet in enumerate(_opus_packets(20)):
        segment.write(RecordingTrack.audio, 1000 + i * 20, Sample(packet, True, None))
    assert not any(c.is_open for c in contexts)
    segment.close()
    assert not any(c.is_open for c in contexts)

    times = decode_times(tmp_path / "s.mkv")
    assert times["camera"] == pytest.approx([1 + i * 0.033 for i in range(10)])
    assert len(times["audio"]) == 20
    with av.open(str(tmp_path / "s.mkv")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (642, 362)
        assert container.metadata.get("title") == "lesson"
