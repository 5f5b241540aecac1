"""Recording from the relay: real aiortc publishers into a RelayRoom, segment files read back
with PyAV. Nothing in the relay decodes or encodes; the files hold the publisher's frames."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from pathlib import Path

import av
import pytest
from aiortc import RTCPeerConnection

from media.interface import (
    CloseReason,
    MediaError,
    MediaEvent,
    RecordingFailed,
    RecordingSegmentClosed,
    RecordingSegmentOpened,
    RecordingTrack,
)
from media.relay.room import RelayRoom, RelayService
from media.rtp.header import read_header
from tests.helpers import eventually
from tests.media.recording_child import decode_times, publish_as

RECORD_S = 3.0


def _increasing(times: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(times))


def _recording_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("kelian-recording")]


def _refusals(room: RelayRoom, video: str, audio: str, directory: Path) -> None:
    cases = {
        "wrong_kind": lambda: room.start_recording("r", directory, camera=audio),
        "unknown_publication": lambda: room.start_recording("r", directory, audio="pub-nope"),
        "bad_recording_id": lambda: room.start_recording("../up", directory, camera=video),
        "unknown_recording": lambda: room.switch_recording_source("nope", RecordingTrack.camera,
                                                                  video),
    }
    for code, call in cases.items():
        with pytest.raises(MediaError) as err:
            call()
        assert err.value.code == code


@pytest.mark.parametrize("codec,ending", [("video/VP8", "stop_recording"),
                                          ("video/H264", "room_close")])
async def test_a_recording_holds_the_publishers_frames_without_decoding(
    codec: str, ending: str, tmp_path: Path
) -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("record-1", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, video, audio = await publish_as(room, events, "teacher", codec)
        clients.append(publisher)
        _refusals(room, video, audio, tmp_path)
        room.start_recording("lesson", tmp_path, camera=video, audio=audio)
        with pytest.raises(MediaError, match="running"):
            room.start_recording("lesson", tmp_path, camera=video)
        await asyncio.sleep(RECORD_S)
        if ending == "stop_recording":
            segments = await room.stop_recording("lesson")
        else:  # closing the Room stops its Recordings cleanly
            await service.close()
            segments = [e.path for e in events if isinstance(e, RecordingSegmentClosed)]
        stats = room.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0

        assert segments == [tmp_path / "lesson.001.mkv"]
        opened = [e for e in events if isinstance(e, RecordingSegmentOpened)]
        closed = [e for e in events if isinstance(e, RecordingSegmentClosed)]
        assert [e.path for e in opened] == [e.path for e in closed] == segments
        assert abs(closed[0].duration_s - RECORD_S) < 0.5
        assert not any(isinstance(e, RecordingFailed) for e in events)

        with av.open(str(segments[0])) as container:
            streams = {s.metadata["title"]: s for s in container.streams}
            assert set(streams) == {"camera", "audio"}
            assert streams["camera"].codec_context.name == codec.split("/")[1].lower()
            assert (streams["camera"].codec_context.width,
                    streams["camera"].codec_context.height) == (640, 480)
            assert streams["audio"].codec_context.name == "opus"
            assert container.duration is not None  # a clean close wrote the duration
        times = decode_times(segments[0])
        camera, sound = times["camera"], times["audio"]
        assert _increasing(camera) and _increasing(sound)
        assert camera[0] < 1.0 and abs(camera[-1] - RECORD_S) < 0.5
        assert abs(sound[-1] - RECORD_S) < 0.5
        assert RECORD_S * 10 <= len(camera) <= RECORD_S * 30 + 10  # aiortc sends 30 fps
        assert RECORD_S * 30 <= len(sound) <= RECORD_S * 50 + 10  # 20 ms Opus frames
        await eventually(lambda: not _recording_threads())
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


@pytest.mark.slow
async def test_source_switches_keep_one_timeline_and_a_new_codec_starts_a_segment(
    tmp_path: Path,
) -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("record-2", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        first, video, audio = await publish_as(room, events, "teacher", "video/VP8")
        clients.append(first)
        room.start_recording("lesson", tmp_path, camera=video, audio=audio)
        await asyncio.sleep(1.2)
        # The publisher leaves: its Producers close, the Recording waits.
        await room.remove_participant("teacher", CloseReason.participant_left)
        await first.close()
        await asyncio.sleep(0.8)
        # … and comes back (new Producers, same codec): the control plane switches to them.
        second, video, audio = await publish_as(room, events, "teacher", "video/VP8")
        clients.append(second)
        room.switch_recording_source("lesson", RecordingTrack.camera, video)
        room.switch_recording_source("lesson", RecordingTrack.audio, audio)
        await asyncio.sleep(1.2)
        # The classroom's hardware encoder (H.264) becomes the camera: a new segment.
        third, hardware, _ = await publish_as(room, events, "encoder", "video/H264")
        clients.append(third)
        room.switch_recording_source("lesson", RecordingTrack.camera, hardware)
        await asyncio.sleep(1.5)
        segments = await room.stop_recording("lesson")

        assert segments == [tmp_path / "lesson.001.mkv", tmp_path / "lesson.002.mkv"]
        assert not any(isinstance(e, RecordingFailed) for e in events)
        closed = [e for e in events if isinstance(e, RecordingSegmentClosed)]
        assert [e.path for e in closed] == segments
        assert closed[0].start_s + closed[0].duration_s <= closed[1].start_s + 0.1
        with av.open(str(segments[0])) as a, av.open(str(segments[1])) as b:
            assert a.streams.video[0].codec_context.name == "vp8"
            assert b.streams.video[0].codec_context.name == "h264"
        one, two = decode_times(segments[0]), decode_times(segments[1])
        camera = one["camera"]
        assert _increasing(camera) and _increasing(one["audio"])
        gaps = [b - a for a, b in itertools.pairwise(camera)]
        assert max(gaps) >= 0.7  # the publisher was away: a gap, not a rewind or a jump back
        assert camera[0] < 1.0 and camera[-1] > 2.5  # both sources are in the first segment
        # The second segment goes on from where the first stopped, on the same clock.
        assert _increasing(two["camera"]) and _increasing(two["audio"])
        assert two["camera"][0] >= camera[-1] and two["audio"][0] > one["audio"][-1]
        assert two["camera"][-1] - two["camera"][0] > 0.8
        assert room.stats().decoders_started == 0
    finally:
        await service.close()
        for pc in clients:
            await pc.close()


async def test_garbled_payloads_cost_frames_not_the_recording(tmp_path: Path) -> None:
    events: list[MediaEvent] = []
    service = RelayService()
    room = await service.open_room("record-3", events.append)
    clients: list[RTCPeerConnection] = []
    try:
        publisher, video, audio = await publish_as(room, events, "teacher", "video/VP8")
        clients.append(publisher)
        # Between decryption and the relay: every 4th packet's payload is garbage, truncated
        # or empty (its RTP header stays valid, so the relay forwards it).
        dtls = room._publishers["teacher"].pc.getTransceivers()[0].receiver.transport
        original = dtls._handle_rtp_data
        numbers = itertools.count(1)
        rng = random.Random(4)

        async def garble(data: bytes, arrival_time_ms: int) -> None:
            n = next(numbers)
            if n % 4 == 0:
                header = read_header(data)
                payload = data[header.payload_at : len(data) - header.padding]
                payload = [b"", payload[:1], payload[:3], rng.randbytes(rng.randint(1, 60)),
                           bytes([payload[0] | 0x90 if payload else 0x90]) + rng.randbytes(20)][n // 4 % 5]
                data = bytes([data[0] & ~0x20]) + data[1 : header.payload_at] + payload
            await original(data, arrival_time_ms)

        dtls._handle_rtp_data = garble
        room.start_recording("lesson", tmp_path, camera=video, audio=audio)
        await asyncio.sleep(RECORD_S)
        segments = await room.stop_recording("lesson")

        assert not any(isinstance(e, RecordingFailed) for e in events)
        assert len(segments) == 1
        times = decode_times(segments[0])
        assert _increasing(times["camera"]) and _increasing(times["audio"])
        assert len(times["camera"]) >= 5 and len(times["audio"]) >= RECORD_S * 20
        # Lost frames made the Recording wait for key frames, which it asked the publisher for.
        assert room.stats().publications[video].keyframes_requested >= 2
    finally:
        await service.close()
        for pc in clients:
            await pc.close()
