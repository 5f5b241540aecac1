"""Inputs that cannot become renditions fail with a clear RenditionError code and leave nothing
behind; a cancel does the same; an older rendition stays untouched."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from media.renditions import RenditionError, make_renditions, probe
from media.renditions.synthetic import make_lesson


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lesson(tmp_path_factory.mktemp("src") / "lesson.webm", 2, 320, 180,
                       video_codec="libvpx", audio_codec="libopus")


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lesson(tmp_path_factory.mktemp("src") / "lesson.mp4", 2, 320, 180)


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        for index in range(10):
            frame = av.AudioFrame(format="s16", layout="stereo", samples=800)
            frame.planes[0].update(bytes(3200))
            frame.sample_rate, frame.pts, frame.time_base = 8000, index * 800, Fraction(1, 8000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _cut(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _text(d: Path, webm: Path, mp4: Path) -> Path:
    (d / "notes.txt").write_text("第一课 lesson plan\n" * 50)  # FFmpeg "opens" text as ANSI art
    return d / "notes.txt"


def _random(d: Path, webm: Path, mp4: Path) -> Path:
    (d / "random.bin").write_bytes(bytes(range(256)) * 40)
    return d / "random.bin"


def _empty(d: Path, webm: Path, mp4: Path) -> Path:
    (d / "empty.mkv").write_bytes(b"")
    return d / "empty.mkv"


def _unknown_codec(d: Path, webm: Path, mp4: Path) -> Path:
    (d / "odd.webm").write_bytes(webm.read_bytes().replace(b"V_VP8", b"V_QQQ"))
    return d / "odd.webm"


BAD_INPUTS = {
    "text": (_text, "not_media"),
    "random-bytes": (_random, "not_media"),
    "empty": (_empty, "empty"),
    "missing": (lambda d, webm, mp4: d / "absent.mkv", "missing"),
    "cut-webm": (lambda d, webm, mp4: _cut(webm, d / "cut.webm"), "truncated"),
    "cut-mp4": (lambda d, webm, mp4: _cut(mp4, d / "cut.mp4"), "truncated"),  # index at the end
    "audio-only": (lambda d, webm, mp4: _audio_only(d / "sound.wav"), "no_video"),
    "unknown-codec": (_unknown_codec, "unsupported_codec"),
}


@pytest.mark.parametrize(("make", "code"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_refused_clearly_and_leaves_nothing(make, code: str, webm: Path, mp4: Path,
                                                         tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = make(inputs, webm, mp4)
    library = tmp_path / "library"
    with pytest.raises(RenditionError) as raised:
        make_renditions(source, library / "lesson")
    assert raised.value.code == code, raised.value
    assert source.name in raised.value.message
    assert not library.exists() or list(library.iterdir()) == []
    with pytest.raises(RenditionError):
        probe(source)


def test_damaged_frames_are_skipped(webm: Path, tmp_path: Path) -> None:
    """Garbage inside some frames' data (the container intact) costs those frames, not the
    lesson."""
    with av.open(str(webm)) as container:
        payloads = [bytes(p) for p in container.demux(video=0) if p.size]
    data = webm.read_bytes()
    for payload in (payloads[20], payloads[31]):  # a delta frame and the second keyframe
        at = data.index(payload)
        junk = (bytes(range(256)) * (len(payload) // 256 + 1))[: len(payload) - 20]
        data = data[:at + 10] + junk + data[at + len(payload) - 10:]  # same length
    source = tmp_path / "damaged.webm"
    source.write_bytes(data)
    result = make_renditions(source, tmp_path / "library" / "lesson")
    assert result.duration == pytest.approx(2, abs=0.3)


def test_a_recording_whose_writer_died_keeps_what_was_written(webm: Path,
                                                               tmp_path: Path) -> None:
    """Like media/recording's segments: Matroska written live (no Duration, no Cues), the
    process killed mid-cluster. That is a lesson cut short, not a broken upload."""
    live = tmp_path / "live.mkv"
    with av.open(str(webm)) as source, av.open(str(live), "w", format="matroska",
                                                container_options={"live": "1"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    killed = tmp_path / "killed.mkv"
    killed.write_bytes(live.read_bytes()[: live.stat().st_size * 3 // 4])
    assert probe(killed).declared_duration is None
    result = make_renditions(killed, tmp_path / "library" / "lesson")
    assert 1.0 < result.duration < 1.8


def test_cancel_removes_the_partial_work_and_keeps_the_old_rendition(webm: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "library" / "lesson"
    out.mkdir(parents=True)
    (out / "master.m3u8").write_text("#EXTM3U\n")
    asked = []

    def cancel() -> bool:
        asked.append(True)
        return len(asked) > 1

    with pytest.raises(RenditionError) as raised:
        make_renditions(webm, out, should_cancel=cancel)
    assert raised.value.code == "cancelled"
    assert [p.name for p in out.parent.iterdir()] == ["lesson"]
    assert [p.name for p in out.iterdir()] == ["master.m3u8"]
