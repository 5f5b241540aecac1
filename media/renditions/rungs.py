"""One rung's output: an HLS muxer (MPEG-TS segments) with its video stream, copied or encoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
from av.container import OutputContainer
from av.filter.context import FilterContext
from av.stream import Stream
from av.video.stream import VideoStream

from .hls import avc_codec_string
from .plan import GOP_SECONDS, RungPlan

X264_PRESET = "veryfast"
PLAYLIST = "index.m3u8"


@dataclass
class RungOutput:
    plan: RungPlan
    container: OutputContainer
    video: Stream
    playlist: Path
    audio: Stream | None = None
    sink: FilterContext | None = None  # encoded rungs: their branch of the filter graph
    codecs: list[str] = field(default_factory=list)  # RFC 6381 strings once known


def hls_options(directory: Path) -> dict[str, str]:
    # max_delay as the ffmpeg command line's default: the TS muxer may then pack several audio
    # frames into one PES packet (each alone costs ~25 kbit/s of padding per rung).
    return {"hls_time": str(GOP_SECONDS), "hls_playlist_type": "vod", "hls_list_size": "0",
            "hls_flags": "independent_segments", "max_delay": "700000",
            "hls_segment_filename": str(directory / "segment%05d.ts")}


def x264_options(plan: RungPlan) -> dict[str, str]:
    # Keyframes are forced per frame (see Pass._keyframe); x264 must add none of its own.
    return {"preset": X264_PRESET, "profile": "high", "forced-idr": "1",
            "x264-params": "scenecut=0:open-gop=0", "maxrate": str(plan.maxrate),
            "bufsize": str(plan.bufsize)}


def open_rung(plan: RungPlan, folder: Path, source: VideoStream, rate: Fraction) -> RungOutput:
    folder.mkdir()
    playlist = folder / PLAYLIST
    container = av.open(str(playlist), "w", format="hls", container_options=hls_options(folder))
    if plan.copy:
        stream = container.add_stream_from_template(source)
        codecs = avc_codec_string(source.codec_context.extradata or b"")
        return RungOutput(plan, container, stream, playlist, codecs=[codecs] if codecs else [])
    stream = container.add_stream("libx264", rate=rate)
    ctx = stream.codec_context
    ctx.width, ctx.height, ctx.pix_fmt = plan.width, plan.height, "yuv420p"
    ctx.time_base = source.time_base  # frames keep the source's timestamps
    ctx.bit_rate = plan.video_bitrate
    ctx.gop_size = 1 << 20
    ctx.thread_type = "AUTO"  # frame and slice threads: most of the pass's CPU is here
    ctx.thread_count = 0
    ctx.options = x264_options(plan)
    return RungOutput(plan, container, stream, playlist)
