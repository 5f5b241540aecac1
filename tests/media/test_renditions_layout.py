"""Camera and courseware laid out side by side in one video, then made into renditions."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from av.video.frame import PictureType

from media.renditions import layout, make_renditions, probe
from media.renditions.layout import Track, side_by_side
from media.renditions.synthetic import make_lesson

pytestmark = pytest.mark.slow


def test_courseware_and_camera_side_by_side(tmp_path: Path) -> None:
    camera = make_lesson(tmp_path / "camera.mp4", 3, 320, 180)  # 16:9, 30 fps, with sound
    # A screen share: 4:3, 5 frames a second, no sound, starting half a second later.
    slides = make_lesson(tmp_path / "slides.webm", 2.5, 640, 480, fps=5, video_codec="libvpx",
                         audio_codec=None)
    combined = side_by_side(camera, Track(slides, offset=0.5), tmp_path / "combined.mkv",
                            height=360)
    facts = probe(combined)
    assert (facts.width, facts.height) == (480 + 640, 360)
    assert facts.fps == 30 and facts.audio_codec == "aac"
    assert facts.duration == pytest.approx(3, abs=0.2)
    with av.open(str(combined)) as container:
        frame = next(container.decode(video=0))
    # At the start the courseware has not begun: its (left) half repeats its first frame.
    assert (frame.width, frame.height) == (1120, 360)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    result = make_renditions(combined, tmp_path / "library" / "lesson")
    assert [(r.width, r.height) for r in result.rungs] == [(1120, 360)]


def test_the_two_video_tracks_of_one_relay_recording(tmp_path: Path) -> None:
    """media/recording writes the camera and the screen as two titled video tracks of one
    Matroska file, on one clock."""
    camera = make_lesson(tmp_path / "camera.mkv", 2, 320, 180, video_codec="libvpx",
                         audio_codec="libopus")
    screen = make_lesson(tmp_path / "screen.mkv", 2, 480, 360, fps=5, video_codec="libvpx",
                         audio_codec=None)
    recording = tmp_path / "recording.mkv"
    with av.open(str(camera)) as cam, av.open(str(screen)) as scr, \
            av.open(str(recording), "w", format="matroska") as out:
        pairs = []
        for title, source in (("camera", cam.streams.video[0]), ("screen", scr.streams.video[0]),
                              ("audio", cam.streams.audio[0])):
            stream = out.add_stream_from_template(source)
            stream.metadata["title"] = title
            pairs.append((source, stream))
        packets = [(p, target) for source, target in pairs
                   for p in source.container.demux(source) if p.dts is not None]
        for packet, target in sorted(packets, key=lambda item: float(item[0].dts
                                                                        * item[0].time_base)):
            packet.stream = target
            out.mux(packet)
    combined = side_by_side(Track(recording, "camera"), Track(recording, "screen"),
                            tmp_path / "combined.mkv", height=180)
    facts = probe(combined)
    assert (facts.width, facts.height, facts.audio_codec) == (240 + 320, 180, "opus")
    assert facts.duration == pytest.approx(2, abs=0.2)


def test_a_screen_share_that_sends_no_frames_for_a_while(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A static slide: the screen track has frames only at 0 s and 2.5 s. The camera's frames
    come out beside the last slide as they arrive, instead of piling up (in memory) until the
    next slide."""
    camera = make_lesson(tmp_path / "camera.mp4", 3, 320, 180)
    with av.open(str(make_lesson(tmp_path / "dense.webm", 3, 320, 240, fps=10,
                                 video_codec="libvpx", audio_codec=None))) as dense:
        frames = list(dense.decode(video=0))
    slides = tmp_path / "slides.mkv"
    with av.open(str(slides), "w", format="matroska") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height = 320, 240
        for frame, at in ((frames[0], 0.0), (frames[25], 2.5)):
            frame.pts, frame.time_base = round(at * 10), Fraction(1, 10)
            frame.pict_type = PictureType.I
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    output_before_second_slide = []
    push = layout._Compositor._push

    def watch(self: layout._Compositor, index: int, frame: av.VideoFrame, t: float) -> None:
        if index == 0 and 2.3 < t < 2.45:
            output_before_second_slide.append(self.frames_out)
        push(self, index, frame, t)

    monkeypatch.setattr(layout._Compositor, "_push", watch)
    combined = side_by_side(camera, slides, tmp_path / "combined.mkv", height=180)
    assert output_before_second_slide and min(output_before_second_slide) > 50
    facts = probe(combined)
    assert (facts.width, facts.height) == (240 + 320, 180)
    assert facts.duration == pytest.approx(3, abs=0.2)
    assert facts.video_frames == pytest.approx(90, abs=3)
