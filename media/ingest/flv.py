"""What an RTMP encoder sends (FLV tags) turned into what the in-process publisher takes:
H.264 as `av.Packet`s in Annex B with SPS/PPS before every keyframe (aiortc packs them into RTP
without encoding), AAC or MP3 decoded into 20 ms `av.AudioFrame`s at 48 kHz (encoded to Opus
once by aiortc)."""

from __future__ import annotations

import logging
from collections import deque
from fractions import Fraction

import av

from .feed import Timeline
from .rtmp import AAC, AVC, CODEC_NAMES, AudioTag, RtmpError, VideoTag

log = logging.getLogger("kelian.media.flv")

VIDEO_RATE = 90_000
AUDIO_RATE = 48_000
START_CODE = b"\x00\x00\x00\x01"
SPS, PPS = 7, 8  # NAL unit types
MS = Fraction(1, 1000)
AUDIO_CODECS = {AAC: "aac", 2: "mp3", 14: "mp3"}  # FLV sound format -> decoder
RATE_WINDOW_MS = 5000  # frame rate and bitrate are measured over the last 5 s of pictures
AUDIO_NAMES = {0: "PCM", 1: "ADPCM", 2: "MP3", 3: "PCM", 4: "Nellymoser", 5: "Nellymoser",
               6: "Nellymoser", 7: "G.711 A-law", 8: "G.711 µ-law", 10: "AAC", 11: "Speex",
               14: "MP3"}


def _annexb_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes of three or four bytes)."""
    return [unit.rstrip(b"\x00") for unit in data.split(b"\x00\x00\x01") if unit.strip(b"\x00")]


def parse_avc_config(record: bytes) -> tuple[list[bytes], int]:
    """(SPS and PPS units, NAL length size) from an AVCDecoderConfigurationRecord, or from
    SPS and PPS in Annex B, which some encoders send in its place."""
    if record.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")):
        units = _annexb_units(record)
        if not units:
            raise RtmpError("an empty H.264 configuration")
        return units, 4
    if len(record) < 7 or record[0] != 1:
        raise RtmpError("a malformed H.264 configuration record")
    length_size = (record[4] & 0x03) + 1
    units: list[bytes] = []
    pos = 5
    for count_mask in (0x1F, 0xFF):  # SPS count in 5 bits, then PPS count in 8
        if pos >= len(record):
            raise RtmpError("a truncated H.264 configuration record")
        count = record[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(record[pos:pos + 2], "big")
            unit = record[pos + 2:pos + 2 + size]
            if len(unit) != size or not size:
                raise RtmpError("a truncated H.264 configuration record")
            units.append(unit)
            pos += 2 + size
    return units, length_size


class VideoConverter:
    """FLV H.264 tags -> Annex B packets on one rising 90 kHz timeline.

    Pictures normally carry length-prefixed NAL units and the configuration record the SPS and
    PPS; some encoders (ffmpeg's tee muxer, for one) send an empty record and Annex B pictures
    with SPS and PPS in band. Both work: the parameter sets last seen go before every keyframe.
    """

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        self.parameter_sets = b""
        self.length_size = 4
        self.reordered = False  # the encoder sends B-frames (browsers may stutter on them)
        # For testing the Source from the admin page: the last keyframe (Annex B, SPS and PPS
        # first), and (encoder ms, bytes) of the latest pictures.
        self.keyframe = b""
        self._recent: deque[tuple[int, int]] = deque(maxlen=600)  # bounded if the clock stalls

    def restart(self) -> None:
        """A new encoder connection: its own clock and configuration."""
        self.timeline.restart()
        self.parameter_sets = b""
        self.keyframe = b""
        self._recent.clear()

    def rates(self) -> tuple[float | None, float | None]:
        """(frames/s, kbit/s) over the latest pictures, by the encoder's clock; None while
        there are too few to tell."""
        if len(self._recent) < 2:
            return None, None
        span_ms = self._recent[-1][0] - self._recent[0][0]
        if span_ms <= 0:
            return None, None
        count = len(self._recent)
        sent = sum(size for _, size in list(self._recent)[:-1])  # sent over the span
        return (count - 1) * 1000 / span_ms, sent * 8 / span_ms

    def _measure(self, timestamp_ms: int, size: int) -> None:
        recent = self._recent
        if recent and timestamp_ms < recent[-1][0]:
            recent.clear()  # the encoder's clock went back: start again
        recent.append((timestamp_ms, size))
        while timestamp_ms - recent[0][0] > RATE_WINDOW_MS:
            recent.popleft()

    def convert(self, tag: VideoTag) -> av.Packet | None:
        if tag.codec != AVC:
            name = CODEC_NAMES.get(tag.codec, f"codec {tag.codec}")
            raise RtmpError(f"the encoder sends {name} video; set it to H.264")
        if tag.config:
            if tag.data:
                units, self.length_size = parse_avc_config(tag.data)
                self.parameter_sets = b"".join(START_CODE + unit for unit in units)
            return None
        units = self._units(tag.data)
        in_band = [unit for unit in units if unit[0] & 0x1F in (SPS, PPS)]
        if in_band:
            self.parameter_sets = b"".join(START_CODE + unit for unit in in_band)
        pictures = [unit for unit in units if unit[0] & 0x1F not in (SPS, PPS)]
        if not pictures or not self.parameter_sets:
            return None  # pictures before their parameter sets cannot be decoded
        if tag.composition_ms:
            self.reordered = True
        body = b"".join(START_CODE + unit for unit in pictures)
        if tag.keyframe:
            body = self.parameter_sets + body
            self.keyframe = body
        self._measure(tag.timestamp_ms, len(body))
        packet = av.Packet(body)
        # Presentation time, kept rising: the packer stamps RTP with it.
        stamp = self.timeline.stamp(round((tag.timestamp_ms + tag.composition_ms) * 90))
        packet.pts = packet.dts = stamp
        packet.time_base = self.timeline.time_base
        packet.is_keyframe = tag.keyframe
        return packet

    def _units(self, data: bytes) -> list[bytes]:
        units, pos, n = [], 0, self.length_size
        while pos + n <= len(data):
            size = int.from_bytes(data[pos:pos + n], "big")
            pos += n
            if size == 0 or pos + size > len(data):
                if data.startswith((b"\x00\x00\x01", START_CODE)):
                    return _annexb_units(data)  # not length-prefixed after all
                raise RtmpError("an H.264 picture whose NAL unit lengths do not add up")
            units.append(data[pos:pos + size])
            pos += size
        return units


class AudioConverter:
    """FLV AAC or MP3 tags -> 20 ms stereo 48 kHz frames on one rising timeline."""

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        self._decoder: av.AudioCodecContext | None = None
        self._codec: int | None = None
        self._resampler = self._new_resampler()
        self._samples = 0

    @staticmethod
    def _new_resampler() -> av.AudioResampler:
        return av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE,
                                 frame_size=AUDIO_RATE // 50)

    @property
    def codec_name(self) -> str | None:
        """The codec of the audio the encoder sends ("aac", "mp3"); None before any."""
        return AUDIO_CODECS.get(self._codec) if self._codec is not None else None

    def restart(self) -> None:
        self.timeline.restart()
        self._decoder, self._codec = None, None
        self._resampler = self._new_resampler()
        self._samples = 0

    def convert(self, tag: AudioTag) -> list[av.AudioFrame]:
        decoder_name = AUDIO_CODECS.get(tag.codec)
        if decoder_name is None:
            name = AUDIO_NAMES.get(tag.codec, f"format {tag.codec}")
            raise RtmpError(f"the encoder sends {name} audio; set it to AAC")
        if self._decoder is None or self._codec != tag.codec or tag.config:
            self._decoder = av.CodecContext.create(decoder_name, "r")  # type: ignore[assignment]
            self._codec = tag.codec
            if tag.config:
                self._decoder.extradata = tag.data  # type: ignore[union-attr]
                return []
        packet = av.Packet(tag.data)
        packet.pts = tag.timestamp_ms
        packet.time_base = MS
        try:
            frames = self._decoder.decode(packet)  # type: ignore[union-attr]
        except av.FFmpegError as err:  # one damaged frame: the next ones may be fine
            log.debug("undecodable audio: %s", err)
            return []
        out = []
        for frame in frames:
            for chunk in self._resampler.resample(frame):
                chunk.pts = self.timeline.stamp(self._samples)
                chunk.time_base = self.timeline.time_base
                self._samples += chunk.samples
                out.append(chunk)
        return out
