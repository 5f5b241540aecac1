"""Synthetic lessons for tests and benchmarks: FFmpeg's moving test pattern and a tone, encoded
with PyAV into any container (no media files in git)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.filter import Graph
from av.filter.context import FilterContext
from av.video.frame import PictureType

AUDIO_FRAME = {"aac": 1024, "libopus": 960}


def _source(description: str) -> tuple[Graph, FilterContext]:
    graph = Graph()
    chain = [graph.add(name, args) for name, args in
             (part.split("=", 1) if "=" in part else (part, None) for part in
              description.split(","))]
    sink = graph.add("abuffersink" if chain[0].filter.name == "sine" else "buffersink")
    graph.link_nodes(*chain, sink)
    graph.configure()
    return graph, sink


def _pull(sink: FilterContext) -> av.frame.Frame | None:
    try:
        return sink.pull()
    except (av.error.BlockingIOError, av.error.EOFError):
        return None


def make_lesson(path: Path, seconds: float, width: int, height: int, *, fps: int = 30,
                video_codec: str = "libx264", audio_codec: str | None = "aac",
                gop_seconds: float = 2.0, bitrate: int = 1_500_000, noise: int = 0,
                preset: str = "ultrafast") -> Path:
    """Write a `seconds`-long lesson with a keyframe every `gop_seconds` (like a hardware
    encoder); `noise` (0–100) adds camera-like grain that keeps the encoder busy."""
    video_chain = f"testsrc2=s={width}x{height}:r={fps}:d={seconds}"
    if noise:
        video_chain += f",noise=alls={noise}:allf=t"
    video_chain += ",format=yuv420p"
    _, video_sink = _source(video_chain)
    with av.open(str(path), "w") as out:
        video = out.add_stream(video_codec, rate=fps)
        ctx = video.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.bit_rate = bitrate
        ctx.gop_size = round(gop_seconds * fps)
        ctx.thread_count = 0
        if video_codec == "libx264":
            ctx.options = {"preset": preset, "x264-params": "scenecut=0",
                           "keyint_min": str(ctx.gop_size)}
        elif video_codec == "libvpx":
            ctx.options = {"deadline": "realtime", "cpu-used": "8", "keyint_min": str(ctx.gop_size)}
        audio = None
        audio_sink = None
        if audio_codec:
            rate = 48_000
            graph, audio_sink = _source(
                f"sine=frequency=440:sample_rate={rate}:duration={seconds},"
                f"aformat=sample_fmts={'fltp' if audio_codec == 'aac' else 's16'}:"
                "channel_layouts=stereo")
            graph.set_audio_frame_size(AUDIO_FRAME.get(audio_codec, 1024))
            audio = out.add_stream(audio_codec, rate=rate)
            audio.codec_context.layout = "stereo"
            audio.codec_context.bit_rate = 96_000
        index = 0
        audio_time = 0.0
        while (frame := _pull(video_sink)) is not None:
            frame.pts, frame.time_base = index, Fraction(1, fps)
            frame.pict_type = PictureType.NONE  # the test source marks every frame I: not a wish
            out.mux(video.encode(frame))
            index += 1
            # Interleave: audio up to the video's time, so the muxer buffers little.
            while audio is not None and audio_sink is not None and audio_time < index / fps:
                chunk = _pull(audio_sink)
                if chunk is None:
                    audio = None
                    break
                assert isinstance(chunk, av.AudioFrame)
                audio_time += chunk.samples / chunk.sample_rate
                out.mux(out.streams.audio[0].encode(chunk))
        out.mux(video.encode(None))
        if out.streams.audio:
            out.mux(out.streams.audio[0].encode(None))
    return path
