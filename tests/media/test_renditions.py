"""make_renditions end to end on real files made with PyAV: each rung's playlist decodes at its
size and length, keyframes (and so segments) line up across rungs, the master playlist and the
stills are valid."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from media.renditions import RenditionResult, make_renditions, probe
from media.renditions.synthetic import make_lesson

pytestmark = pytest.mark.slow
SECONDS = 4


@pytest.fixture(scope="module")
def vp8_webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A relay-style recording: VP8 + Opus in WebM (Matroska)."""
    return make_lesson(tmp_path_factory.mktemp("src") / "lesson.webm", SECONDS, 640, 360,
                       video_codec="libvpx", audio_codec="libopus")


@pytest.fixture(scope="module")
def h264_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uploaded file: H.264 + AAC in MP4, keyframes every 2 s."""
    return make_lesson(tmp_path_factory.mktemp("src") / "lesson.mp4", SECONDS, 1280, 720)


def _decoded(playlist: Path) -> tuple[int, int, int, float, list[float]]:
    """Width, height, frame count, duration and keyframe times of a rung, by decoding it."""
    with av.open(str(playlist)) as container:
        stream = container.streams.video[0]
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        keyframes = [round(float(p.pts * p.time_base), 3) for p in container.demux(stream)
                     if p.is_keyframe and p.pts is not None]
    with av.open(str(playlist)) as container:
        frames = list(container.decode(video=0))
    times = [float(f.pts * f.time_base) for f in frames]
    size = (frames[0].width, frames[0].height)
    times.sort()
    step = sorted(b - a for a, b in zip(times, times[1:], strict=False))[len(times) // 2]
    duration = times[-1] - times[0] + step  # the last frame lasts as long as a typical one
    origin = min(times)
    return size[0], size[1], len(times), duration, [round(k - origin, 3) for k in keyframes]


def _check_stills(result: RenditionResult, height: int) -> None:
    with av.open(str(result.poster)) as image:
        poster = next(image.decode(video=0))
    assert poster.height == min(720, height)
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(\S+)",
                      result.vtt.read_text())
    assert result.vtt.read_text().startswith("WEBVTT\n")
    assert len(cues) == SECONDS  # one a second for a short video
    assert cues[0][:2] == ("00:00:00.000", "00:00:01.000")
    assert cues[-1][1] == "00:00:04.000"
    with av.open(str(result.sprite)) as image:
        sprite = next(image.decode(video=0))
    for _, _, target in cues:
        name, _, xywh = target.partition("#xywh=")
        assert name == "sprite.jpg"
        x, y, w, h = map(int, xywh.split(","))
        assert (w, h) == (160, 90) and x + w <= sprite.width and y + h <= sprite.height


def _check_master(result: RenditionResult) -> None:
    text = result.master.read_text()
    assert text.startswith("#EXTM3U")
    for rung in result.rungs:
        assert re.search(rf"BANDWIDTH={rung.bandwidth},.*RESOLUTION={rung.width}x{rung.height},"
                         rf".*CODECS=\"avc1\.[0-9a-f]{{6}},mp4a\.40\.2\"\n{rung.name}/index.m3u8",
                         text), text
        assert rung.bandwidth >= rung.average_bandwidth > 0


def _no_leftovers(result: RenditionResult) -> None:
    assert [p.name for p in result.directory.parent.iterdir()] == [result.directory.name]


def test_probe_tells_the_facts(vp8_webm: Path, h264_mp4: Path) -> None:
    vp8 = probe(vp8_webm)
    assert (vp8.video_codec, vp8.width, vp8.height, vp8.fps) == ("vp8", 640, 360, 30)
    assert (vp8.audio_codec, vp8.sample_rate, vp8.channels) == ("opus", 48000, 2)
    assert vp8.duration == pytest.approx(SECONDS, abs=0.1)
    assert vp8.keyframe_gap_max == pytest.approx(2, abs=0.1)
    h264 = probe(h264_mp4)
    assert (h264.video_codec, h264.width, h264.height) == ("h264", 1280, 720)
    assert (h264.audio_codec, h264.sample_rate) == ("aac", 48000)
    assert 500_000 < h264.video_bitrate < 3_000_000


def test_vp8_recording_becomes_one_encoded_rung(vp8_webm: Path, tmp_path: Path) -> None:
    progress: list[tuple[float, float]] = []
    result = make_renditions(vp8_webm, tmp_path / "lib" / "lesson",
                             lambda fraction, speed: progress.append((fraction, speed)))
    assert [(r.name, r.width, r.height, r.copied) for r in result.rungs] == [
        ("360p", 640, 360, False)]
    width, height, frames, duration, keyframes = _decoded(result.rungs[0].playlist)
    assert (width, height) == (640, 360)
    assert duration == pytest.approx(SECONDS, abs=0.3)
    assert keyframes == [0.0, 2.0]  # the fixed 2 s GOP
    assert result.rungs[0].segments == (2.0, 2.0)
    assert result.duration == pytest.approx(SECONDS, abs=0.3)
    _check_master(result)
    _check_stills(result, 360)
    assert progress[-1][0] == 1.0 and progress[-1][1] > 0
    assert [f for f, _ in progress] == sorted(f for f, _ in progress)
    _no_leftovers(result)


def test_h264_upload_copies_its_own_size_and_aligns_the_rest(h264_mp4: Path,
                                                             tmp_path: Path) -> None:
    result = make_renditions(h264_mp4, tmp_path / "lib" / "lesson")
    assert [(r.name, r.width, r.height, r.copied) for r in result.rungs] == [
        ("720p", 1280, 720, True), ("360p", 640, 360, False)]
    decoded = {r.name: _decoded(r.playlist) for r in result.rungs}
    assert decoded["720p"][:2] == (1280, 720) and decoded["360p"][:2] == (640, 360)
    for _, _, frames, duration, _ in decoded.values():
        assert frames == 30 * SECONDS
        assert duration == pytest.approx(SECONDS, abs=0.3)
    # Aligned: the encoded rung's keyframes are the copied source's, so segments match.
    assert decoded["720p"][4] == decoded["360p"][4] == [0.0, 2.0]
    assert result.rungs[0].segments == result.rungs[1].segments == (2.0, 2.0)
    with av.open(str(h264_mp4)) as source:
        original = [bytes(p) for p in source.demux(video=0) if p.size]
    with av.open(str(result.rungs[0].playlist)) as copied:
        assert sum(1 for p in copied.demux(video=0) if p.size) == len(original)
    _check_master(result)
    _check_stills(result, 720)
    _no_leftovers(result)


def test_a_new_rendition_replaces_the_old_one(vp8_webm: Path, tmp_path: Path) -> None:
    out = tmp_path / "lib" / "lesson"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("from an earlier attempt")
    result = make_renditions(vp8_webm, out)
    assert not (out / "stale.txt").exists() and result.master.exists()
    _no_leftovers(result)


def _vp8_packets(path: Path) -> list[tuple[bytes, bool]]:
    with av.open(str(path)) as container:
        return [(bytes(p), p.is_keyframe) for p in container.demux(video=0) if p.size]


def test_a_recording_whose_size_grows_midway_and_has_no_sound(tmp_path: Path) -> None:
    """WebRTC senders start small and grow as bandwidth allows; the header only knows the
    first size. The ladder follows the largest, every frame comes out at the rung's size."""
    small = _vp8_packets(make_lesson(tmp_path / "a.webm", 2, 320, 180, video_codec="libvpx",
                                     audio_codec=None))
    large = _vp8_packets(make_lesson(tmp_path / "b.webm", 2, 640, 360, video_codec="libvpx",
                                     audio_codec=None))
    source = tmp_path / "recording.webm"
    with av.open(str(source), "w") as out:
        stream = out.add_mux_stream("vp8", rate=30, width=320, height=180)
        stream.time_base = Fraction(1, 1000)
        for index, (data, keyframe) in enumerate(small + large):
            packet = av.Packet(data)
            packet.pts = packet.dts = round(index * 1000 / 30)
            packet.time_base, packet.is_keyframe, packet.stream = Fraction(1, 1000), keyframe, stream
            out.mux(packet)
    assert (probe(source).width, probe(source).height) == (640, 360)
    result = make_renditions(source, tmp_path / "library" / "lesson")
    [rung] = result.rungs
    assert (rung.name, rung.width, rung.height, rung.codecs[:5]) == ("360p", 640, 360, "avc1.")
    assert "mp4a" not in result.master.read_text()
    with av.open(str(rung.playlist)) as container:
        frames = list(container.decode(video=0))
        assert not container.streams.audio
    assert len(frames) == 120 and {(f.width, f.height) for f in frames} == {(640, 360)}


def test_parts_of_one_recording_are_stitched_into_one_item(tmp_path: Path) -> None:
    from media.renditions.stitch import stitch

    sources = [make_lesson(tmp_path / f"part{i}.mp4", 2, 320, 180) for i in range(2)]
    work = tmp_path / "lesson.parts"
    parts = [make_renditions(s, work / f"part-{i}") for i, s in enumerate(sources)]
    joined = stitch(parts, work)
    assert joined.duration == pytest.approx(4, abs=0.1)
    [rung] = joined.rungs
    assert (rung.name, rung.width, rung.height, rung.segments) == ("180p", 320, 180, (2.0, 2.0))
    text = rung.playlist.read_text()
    assert "#EXT-X-DISCONTINUITY" in text and "../part-1/180p/segment00000.ts" in text
    work.rename(tmp_path / "lesson")  # relative references survive the move
    with av.open(str(tmp_path / "lesson" / "180p" / "index.m3u8")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 120
    cues = (tmp_path / "lesson" / "thumbnails.vtt").read_text()
    assert "00:00:03.000 --> 00:00:04.000\npart-1/sprite.jpg#xywh=160,0,160,90" in cues
    assert "180p/index.m3u8" in (tmp_path / "lesson" / "master.m3u8").read_text()


def _h264_access_units(width: int, height: int, frames: int) -> list[tuple[list[bytes], bool]]:
    """Annex B output of a lone x264 encoder (SPS and PPS before every IDR, as WebRTC senders
    do), split into NAL units."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, 30), Fraction(30)
    encoder.gop_size = 60
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    units = []
    for index in range(frames + 1):
        frame = None
        if index < frames:
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(bytes([(x + 3 * index) % 200 + 16 for x in range(width)])
                                   * height)
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * (width * height // 4))
            frame.pts = index
        for packet in encoder.encode(frame):
            nals = [u.lstrip(b"\0") for u in bytes(packet).split(b"\0\0\1") if u.strip(b"\0")]
            units.append((nals, packet.is_keyframe))
    return units


def test_an_h264_relay_recording_whose_size_grows_midway(tmp_path: Path) -> None:
    """The same with H.264 as media/recording writes it: length-prefixed samples, the first
    size's avcC in the header, parameter sets in band at every keyframe."""
    from media.interface import RecordingTrack
    from media.recording.bitstream import avc_decoder_configuration, length_prefixed
    from media.recording.codecs import Sample, TrackConfig
    from media.recording.container import SegmentFile

    small, large = _h264_access_units(320, 180, 60), _h264_access_units(640, 360, 60)
    sps, pps = small[0][0][0], small[0][0][1]
    assert (sps[0] & 0x1F, pps[0] & 0x1F) == (7, 8)
    config = TrackConfig("video/H264", avc_decoder_configuration(sps, pps), 320, 180)
    source = tmp_path / "segment.mkv"
    segment = SegmentFile(source, {RecordingTrack.camera: config}, title="test")
    for index, (units, keyframe) in enumerate(small + large):
        segment.write(RecordingTrack.camera, round(index * 1000 / 30),
                      Sample(length_prefixed(units), keyframe, None))
    segment.close()
    facts = probe(source)
    assert (facts.video_codec, facts.width, facts.height, facts.size_changes) == (
        "h264", 640, 360, True)
    result = make_renditions(source, tmp_path / "library" / "lesson")
    [rung] = result.rungs
    assert (rung.name, rung.width, rung.height, rung.copied) == ("360p", 640, 360, False)
    with av.open(str(rung.playlist)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 120 and {(f.width, f.height) for f in frames} == {(640, 360)}
