"""Technical facts of an input file, and a clear RenditionError when it cannot become renditions.

The probe reads every packet (demux only, no decoding past the first frame): that is cheap next
to transcoding and gives what container headers may not, such as the real length of a
recording whose writer died, the longest keyframe gap and the measured bitrate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..recording.bitstream import BitstreamError, h264_dimensions, vp8_dimensions
from .errors import RenditionError

# Leading bytes of containers we accept: such a file that FFmpeg cannot open was cut short or
# damaged, rather than not being media at all.
_SIGNATURES = ((0, b"\x1a\x45\xdf\xa3"), (4, b"ftyp"), (4, b"moov"), (4, b"mdat"),
               (4, b"free"), (0, b"RIFF"), (0, b"FLV"), (0, b"OggS"))
# Data may end this much before the declared duration (muxers round, streams end unevenly).
_TRUNCATION_SLACK = 0.5
# FFmpeg formats that "open" files that are no video: text shown as ANSI art (any .txt opens
# as tty), text-mode art, single images (image2 and the *_pipe image readers).
_TEXT_FORMATS = {"tty", "bin", "xbin", "adf", "idf"}
_FIRST_FRAME_PACKETS = 120  # give up on decoding the first frame after this many packets


@dataclass(frozen=True)
class MediaFacts:
    container: str  # FFmpeg's format name, e.g. "matroska,webm"
    duration: float  # seconds of video actually present
    declared_duration: float | None  # what the container header says, if anything
    start: float  # seconds: the earliest packet time, the origin of the renditions
    video_codec: str  # FFmpeg codec name: "h264", "vp8", …
    width: int  # the largest size seen (a WebRTC recording may start small)
    height: int
    sample_aspect: Fraction  # pixel shape; 1 for square pixels
    pix_fmt: str | None
    fps: float
    video_bitrate: int  # bits per second, measured from the packets
    bitrate: int  # the whole file, bits per second
    keyframe_gap_max: float  # longest distance between two keyframes, seconds
    video_frames: int
    size_changes: bool = False  # keyframes announce more than one picture size
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None

    @property
    def display_width(self) -> int:
        return round(self.width * self.sample_aspect)


def _sniffed_container(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(16)
    return any(head[at:at + len(magic)] == magic for at, magic in _SIGNATURES)


def _nal_units(data: bytes, length_size: int | None) -> list[bytes]:
    """NAL units of an H.264 access unit: length-prefixed (MP4, Matroska) or Annex B."""
    units = []
    if length_size:
        at = 0
        while at + length_size <= len(data):
            size = int.from_bytes(data[at:at + length_size], "big")
            units.append(data[at + length_size:at + length_size + size])
            at += length_size + size
        return units
    return [u.lstrip(b"\x00") for u in data.split(b"\x00\x00\x01") if u.strip(b"\x00")]


def _keyframe_size(codec: str, data: bytes, length_size: int | None) -> tuple[int, int] | None:
    """The picture size a keyframe announces: a WebRTC sender may change it at any keyframe of
    a recording (it starts small and grows), while the container only knows the first."""
    if codec == "vp8":
        return vp8_dimensions(data)
    if codec == "h264":
        for unit in _nal_units(data, length_size):
            if unit and unit[0] & 0x1F == 7:  # a sequence parameter set
                try:
                    return h264_dimensions(unit)
                except BitstreamError:
                    return None
    return None


def probe(source: Path) -> MediaFacts:
    """The facts of `source`, or RenditionError(missing | empty | not_media | truncated | corrupt
    | no_video | unsupported_codec)."""
    if not source.is_file():
        raise RenditionError("missing", f"{source} does not exist")
    size = source.stat().st_size
    if size == 0:
        raise RenditionError("empty", f"{source.name} is empty (0 bytes)")
    try:
        container = av.open(str(source), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _sniffed_container(source):
            raise RenditionError("truncated", f"{source.name} looks like a video file but cannot "
                                 f"be opened; it was probably cut short ({exc})") from exc
        raise RenditionError("not_media", f"{source.name} is not a video file FFmpeg can read "
                             f"({exc})") from exc
    with container:
        return _facts(source, size, container)


class _VideoScan:
    """What the video packets tell, gathered in one demux pass."""

    def __init__(self, stream: av.video.stream.VideoStream):
        self.stream = stream
        self.decoder = stream.codec_context
        self.frames = 0
        self.bytes = 0
        self.first: int | None = None
        self.end: int | None = None  # of the latest packet, its duration included
        self.untimed = 0  # packets without a duration
        self.last_key: int | None = None
        self.gap_max = 0
        self.width, self.height = self.decoder.width, self.decoder.height
        self.sizes: set[tuple[int, int]] = set()  # as keyframes announce them
        self.decoded = False
        self.decode_errors = 0
        extradata = self.decoder.extradata or b""
        # avcC's last two bits of byte 4: the NAL length size less one; no avcC: Annex B.
        self.length_size = (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 \
            else None

    def add(self, packet: av.Packet, pts: int) -> None:
        self.frames += 1
        self.bytes += packet.size
        self.first = pts if self.first is None else min(self.first, pts)
        self.end = max(self.end or pts, pts + (packet.duration or 0))
        self.untimed += not packet.duration
        if packet.is_keyframe:
            if self.last_key is not None:
                self.gap_max = max(self.gap_max, pts - self.last_key)
            self.last_key = pts
            seen = _keyframe_size(self.decoder.name, bytes(packet), self.length_size)
            if seen:
                self.sizes.add(seen)
                if seen[0] * seen[1] > self.width * self.height:
                    self.width, self.height = seen
        if not self.decoded and self.frames <= _FIRST_FRAME_PACKETS:
            self._decode(packet)

    def _decode(self, packet: av.Packet | None) -> None:
        try:
            self.decoded = bool(self.decoder.decode(packet))
        except av.error.FFmpegError:
            self.decode_errors += 1

    def finish(self) -> None:
        if not self.decoded and self.frames:
            self._decode(None)  # a short file: its first frame may still be in the decoder
        if self.last_key is not None and self.end is not None:
            self.gap_max = max(self.gap_max, self.end - self.last_key)

    @property
    def duration(self) -> float:
        assert self.first is not None and self.end is not None
        span = self.end - self.first
        if self.untimed:
            span = span * self.frames / (self.frames - 1)  # the last lasts as long as the average
        return float(span * self.stream.time_base)


def _facts(source: Path, size: int, container: av.container.InputContainer) -> MediaFacts:
    format_name = container.format.name
    video = next((s for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic), None)
    if format_name in _TEXT_FORMATS:
        raise RenditionError("not_media", f"{source.name} is text, not a video file")
    if video is None or format_name == "image2" or format_name.endswith("_pipe"):
        raise RenditionError("no_video", f"{source.name} has no video (audio only or a still "
                             "image)")
    if video.codec_context is None:
        raise RenditionError("unsupported_codec", f"{source.name}: its video codec is unknown "
                             "to FFmpeg, so it cannot be decoded")
    audio = next((s for s in container.streams.audio if s.codec_context is not None), None)
    scan = _VideoScan(video)
    audio_first: float | None = None
    audio_end = 0.0
    try:
        for packet in container.demux([video] + ([audio] if audio is not None else [])):
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                continue  # a demuxer's flush packet
            if packet.stream is video:
                scan.add(packet, pts)
            else:
                at = float(pts * packet.time_base)
                audio_first = at if audio_first is None else min(audio_first, at)
                audio_end = max(audio_end, at + float(packet.duration * packet.time_base))
    except av.error.FFmpegError:
        pass  # damaged data: judge by what was read, below
    scan.finish()
    if scan.frames < 2:
        if scan.frames == 0 and container.duration:
            raise RenditionError("truncated", f"{source.name} declares a length but holds no "
                                 "video data")
        raise RenditionError("no_video", f"{source.name} has no moving video "
                             f"({scan.frames} frame)")
    if not scan.decoded:
        raise RenditionError("corrupt", f"{source.name}: none of its first video frames decodes "
                             f"({scan.decode_errors} errors)")
    assert scan.first is not None
    tb = video.time_base
    duration = scan.duration
    declared = container.duration / av.time_base if container.duration else None
    video_start = float(scan.first * tb)
    start = min(video_start, audio_first) if audio_first is not None else video_start
    end = max(video_start + duration, audio_end)
    present = end - start
    # Matroska declares its length from time 0, so a recording's later segment (which starts
    # where the one before ended) declares its end time, not its length: either may match.
    if declared is not None and max(present, end) < declared - max(_TRUNCATION_SLACK,
                                                                   0.03 * declared):
        raise RenditionError("truncated", f"{source.name} declares {declared:.1f} s but its data "
                             f"stops at {present:.1f} s: the file was cut short")
    ctx = video.codec_context
    sar = ctx.sample_aspect_ratio or Fraction(1)
    return MediaFacts(
        container=format_name, duration=round(duration, 3),
        declared_duration=round(declared, 3) if declared is not None else None,
        start=start, video_codec=ctx.name, width=scan.width, height=scan.height,
        sample_aspect=Fraction(sar) if sar > 0 else Fraction(1),
        pix_fmt=ctx.format.name if ctx.format else None,
        fps=_fps(video.average_rate or video.guessed_rate, scan.frames, duration),
        video_bitrate=round(scan.bytes * 8 / duration) if duration else 0,
        bitrate=round(size * 8 / (declared or duration)) if (declared or duration) else 0,
        keyframe_gap_max=round(float(scan.gap_max * tb), 3), video_frames=scan.frames,
        size_changes=len(scan.sizes) > 1,
        audio_codec=audio.codec_context.name if audio is not None else None,
        sample_rate=audio.codec_context.sample_rate if audio is not None else None,
        channels=audio.codec_context.channels if audio is not None else None,
    )


def _fps(rate: Fraction | None, frames: int, duration: float) -> float:
    if rate and 1 <= rate <= 240:
        return round(float(rate), 3)
    return round(frames / duration, 3) if duration > 0 and math.isfinite(duration) else 30.0
