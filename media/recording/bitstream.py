"""What a container's track header needs, read from the encoded bitstream (never decoded):
picture sizes of VP8 key frames and H.264 sequence parameter sets, the H.264 decoder
configuration record (avcC) and the Opus identification header.
"""

from __future__ import annotations

import struct

OPUS_SAMPLE_RATE = 48000
OPUS_CHANNELS = 2  # WebRTC always signals opus/48000/2; a mono stream decodes as stereo


class BitstreamError(ValueError):
    """The bytes are not the structure they claim to be."""


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a key frame's header (RFC 6386 §9.1); None for other frames."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


def _rbsp(nal: bytes) -> bytes:
    """The NAL unit's payload with emulation prevention bytes (00 00 03) removed."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes):
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def u(self, n: int) -> int:
        if n > self._left:
            raise BitstreamError("sequence parameter set ends early")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("Exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = next_scale = 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last


def h264_dimensions(sps: bytes) -> tuple[int, int]:
    """Width and height of the pictures a sequence parameter set describes (H.264 §7.3.2.1),
    after cropping."""
    bits = _Bits(_rbsp(sps[1:]))
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in _HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.u(1)  # separate_colour_plane_flag
        bits.ue()  # bit depths
        bits.ue()
        bits.u(1)
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma_format == 3 else 8):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)
    bits.u(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_units * 16
    if bits.u(1):  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        unit_x = 2 if chroma_format in (1, 2) else 1
        unit_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
        width -= (left + right) * unit_x
        height -= (top + bottom) * unit_y
    if width <= 0 or height <= 0:
        raise BitstreamError("cropped away the whole picture")
    return width, height


def avc_decoder_configuration(sps: bytes, pps: bytes) -> bytes:
    """The avcC record (ISO/IEC 14496-15 §5.2.4.1) for 4-byte NAL unit lengths."""
    if len(sps) < 4 or not pps:
        raise BitstreamError("parameter sets too short")
    return (bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + struct.pack("!H", len(sps)) + sps
            + b"\x01" + struct.pack("!H", len(pps)) + pps)


def length_prefixed(units: list[bytes]) -> bytes:
    """NAL units as an AVC sample: each behind its 4-byte length."""
    return b"".join(struct.pack("!I", len(unit)) + unit for unit in units)


def opus_head() -> bytes:
    """The Opus identification header (RFC 7845 §5.1) a WebRTC stream implies: no pre-skip,
    since RTP receivers play from the first sample."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, OPUS_CHANNELS, 0, OPUS_SAMPLE_RATE, 0, 0)
