"""The pure parts of media.renditions: the ladder plan, HLS codec strings and the stills."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.frame import VideoFrame

from media.renditions import MediaFacts, plan_ladder
from media.renditions.hls import avc_codec_string
from media.renditions.stills import Stills, thumbnail_interval

FACTS = MediaFacts(container="matroska,webm", duration=60.0, declared_duration=60.0, start=0.0,
                   video_codec="h264", width=1920, height=1080, sample_aspect=Fraction(1),
                   pix_fmt="yuv420p", fps=30.0, video_bitrate=4_000_000, bitrate=4_100_000,
                   keyframe_gap_max=2.0, video_frames=1800, audio_codec="opus",
                   sample_rate=48000, channels=2)


def _rungs(facts: MediaFacts) -> list[tuple[str, int, int, bool]]:
    return [(r.name, r.width, r.height, r.copy) for r in plan_ladder(facts)]


def test_a_1080p_h264_lesson_gets_three_rungs_and_keeps_its_own() -> None:
    assert _rungs(FACTS) == [("1080p", 1920, 1080, True), ("720p", 1280, 720, False),
                             ("360p", 640, 360, False)]


@pytest.mark.parametrize("change", [
    {"video_codec": "vp8"}, {"keyframe_gap_max": 10.0}, {"video_bitrate": 20_000_000},
    {"pix_fmt": "yuv422p"}, {"pix_fmt": "yuv420p10le"}, {"size_changes": True},
], ids=["vp8", "rare-keyframes", "too-large", "4:2:2", "10-bit", "size-changes"])
def test_a_source_browsers_or_segments_would_choke_on_is_encoded(change: dict) -> None:
    assert [copy for *_, copy in _rungs(replace(FACTS, **change))] == [False, False, False]


def test_rungs_never_exceed_the_source_and_keep_its_shape() -> None:
    assert _rungs(replace(FACTS, width=960, height=720, video_codec="vp8")) == [
        ("720p", 960, 720, False), ("360p", 480, 360, False)]  # 4:3
    assert _rungs(replace(FACTS, width=320, height=240)) == [("240p", 320, 240, False)]
    assert _rungs(replace(FACTS, width=3840, height=2160))[0][:3] == ("1080p", 1920, 1080)
    # Anamorphic pixels: the rung is laid out at the display shape.
    assert _rungs(replace(FACTS, width=1440, height=1080, sample_aspect=Fraction(4, 3)))[0] == (
        "1080p", 1920, 1080, False)


def test_codec_strings_from_avcc_and_annex_b() -> None:
    assert avc_codec_string(bytes.fromhex("0164001fffe1")) == "avc1.64001f"
    assert avc_codec_string(bytes.fromhex("00000001 09f0 00000001 6742c01e da")) == "avc1.42c01e"
    assert avc_codec_string(bytes.fromhex("000001 65 8888")) is None


def test_thumbnail_interval_keeps_about_a_hundred() -> None:
    assert [thumbnail_interval(s) for s in (4, 60, 300, 2700, 7200)] == [1, 1, 3, 10, 10]


def _frame(luma: int, pattern: bool = False) -> VideoFrame:
    frame = VideoFrame(320, 180, "yuv420p")
    rows = [bytes([luma if not pattern or (x // 20 + y // 20) % 2 else 235 for x in range(320)])
            for y in range(180)]
    frame.planes[0].update(b"".join(rows))
    frame.planes[1].update(bytes([128]) * (160 * 90))
    frame.planes[2].update(bytes([128]) * (160 * 90))
    return frame


def _mean_luma(path: Path) -> float:
    with av.open(str(path)) as image:
        gray = next(image.decode(video=0)).reformat(format="gray")
    data = bytes(gray.planes[0])
    return sum(data) / len(data)


def test_the_poster_skips_a_black_opening(tmp_path: Path) -> None:
    """A lesson that opens on a black screen for its first quarter: the poster is the first
    lit frame after 10 %, and the sprite has a tile for every interval."""
    stills = Stills(duration=20.0, display_width=320, height=180)
    for index in range(40):  # two frames a second
        t = index / 2
        frame = _frame(16) if t < 5 else _frame(80, pattern=True)
        frame.pts, frame.time_base = index, Fraction(1, 2)
        if stills.wants(t):
            stills.offer(frame, t)
    files = stills.finish(tmp_path)
    assert _mean_luma(files.poster) > 100
    assert files.thumbnails == 20
    with av.open(str(files.sprite)) as image:
        sprite = next(image.decode(video=0))
    assert (sprite.width, sprite.height) == (10 * 160, 2 * 90)
    assert files.vtt.read_text().count("sprite.jpg#xywh=") == 20


def test_an_all_black_video_still_gets_a_poster(tmp_path: Path) -> None:
    stills = Stills(duration=3.0, display_width=320, height=180)
    for index in range(3):
        frame = _frame(16)
        frame.pts, frame.time_base = index, Fraction(1)
        stills.offer(frame, float(index))
    files = stills.finish(tmp_path)
    assert files.poster.stat().st_size > 0 and _mean_luma(files.poster) < 20
