"""From one frame's RTP payloads to a container sample, per codec.

A `SampleFormat` belongs to one source (one Producer bound to a recorded track): H.264 keeps
the latest parameter sets it saw, because a key frame is only usable at the start of a track
when its SPS and PPS are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..rtp import depacketize as rtp
from .bitstream import (
    BitstreamError,
    avc_decoder_configuration,
    h264_dimensions,
    length_prefixed,
    opus_head,
    vp8_dimensions,
)

H264_SPS = 7
H264_PPS = 8


@dataclass(frozen=True)
class TrackConfig:
    """What a segment's track header says: the codec and what its decoder needs first."""

    mime_type: str  # "video/VP8", "video/H264", "audio/opus"
    extradata: bytes | None = None
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Sample:
    data: bytes
    keyframe: bool
    config: TrackConfig | None  # set when a track may start with this sample


class SampleFormat(Protocol):
    video: bool

    def starts_frame(self, payload: bytes) -> bool: ...

    def sample(self, payloads: Sequence[bytes]) -> Sample:
        """Raises DepacketizeError when the payloads are not a frame."""


class Vp8Format:
    video = True

    def starts_frame(self, payload: bytes) -> bool:
        return rtp.vp8_starts_frame(payload)

    def sample(self, payloads: Sequence[bytes]) -> Sample:
        frame = rtp.vp8_frame(payloads)
        size = vp8_dimensions(frame) if rtp.vp8_is_keyframe(frame) else None
        if size is None:
            return Sample(frame, False, None)
        return Sample(frame, True, TrackConfig("video/VP8", None, *size))


class H264Format:
    video = True

    def __init__(self) -> None:
        self._sps: bytes | None = None
        self._pps: bytes | None = None

    def starts_frame(self, payload: bytes) -> bool:
        return rtp.h264_starts_frame(payload)

    def sample(self, payloads: Sequence[bytes]) -> Sample:
        units = rtp.h264_nal_units(payloads)
        for unit in units:
            kind = unit[0] & 0x1F
            if kind == H264_SPS:
                self._sps = unit
            elif kind == H264_PPS:
                self._pps = unit
        data = length_prefixed(units)
        if not rtp.h264_is_keyframe(units) or self._sps is None or self._pps is None:
            return Sample(data, False, None)
        try:
            config = TrackConfig("video/H264", avc_decoder_configuration(self._sps, self._pps),
                                 *h264_dimensions(self._sps))
        except BitstreamError as exc:
            raise rtp.DepacketizeError(f"unusable parameter sets: {exc}") from None
        return Sample(data, True, config)


class OpusFormat:
    video = False
    _config = TrackConfig("audio/opus", opus_head())

    def starts_frame(self, payload: bytes) -> bool:
        return rtp.opus_starts_frame(payload)

    def sample(self, payloads: Sequence[bytes]) -> Sample:
        return Sample(rtp.opus_frame(payloads), True, self._config)


def sample_format(mime_type: str) -> SampleFormat | None:
    """A fresh format for a source's codec; None for a codec recordings do not take."""
    factory = {"video/vp8": Vp8Format, "video/h264": H264Format,
               "audio/opus": OpusFormat}.get(mime_type.lower())
    return factory() if factory is not None else None
