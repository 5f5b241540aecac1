"""Depacketizing VP8, H.264 and Opus, and reading track headers from bitstreams: pure functions
over bytes. Round trips go through small packetizers written here from the RFCs; garbage may
only ever raise the module's own error."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media.recording.bitstream import BitstreamError, h264_dimensions, vp8_dimensions
from media.rtp import depacketize as rtp
from media.rtp.depacketize import DepacketizeError

# Packetizers (the publisher's side), only as far as the tests need them ----------------------


def vp8_packets(frame: bytes, sizes: list[int], picture_id: int | None, tl0: bool,
                tid: bool) -> list[bytes]:
    """RFC 7741 §4: `frame` cut into pieces of the given sizes, each behind a descriptor."""
    pieces, at = [], 0
    for size in sizes:
        if at >= len(frame):
            break
        pieces.append(frame[at : at + size])
        at += size
    if at < len(frame):
        pieces.append(frame[at:])
    packets = []
    for i, piece in enumerate(pieces):
        extended = picture_id is not None or tl0 or tid
        descriptor = bytearray([(0x80 if extended else 0) | (0x10 if i == 0 else 0)])
        if extended:
            descriptor.append((0x80 if picture_id is not None else 0) | (0x40 if tl0 else 0)
                              | (0x20 if tid else 0))
            if picture_id is not None:
                descriptor += (bytes([0x80 | picture_id >> 8, picture_id & 0xFF])
                               if picture_id > 0x7F else bytes([picture_id]))
            if tl0:
                descriptor.append(7)
            if tid:
                descriptor.append(0x40)
        packets.append(bytes(descriptor) + piece)
    return packets


def h264_packets(units: list[bytes], mtu: int) -> list[bytes]:
    """RFC 6184 mode 1: small units aggregated in STAP-A, large ones fragmented in FU-A."""
    packets: list[bytes] = []
    aggregate: list[bytes] = []

    def close_aggregate() -> None:
        if len(aggregate) == 1:
            packets.append(aggregate[0])
        elif aggregate:
            nri = max(u[0] & 0x60 for u in aggregate)
            packets.append(bytes([nri | 24]) + b"".join(
                len(u).to_bytes(2, "big") + u for u in aggregate))
        aggregate.clear()

    for unit in units:
        if len(unit) <= mtu:
            size = 1 + sum(2 + len(u) for u in aggregate) + 2 + len(unit)
            if aggregate and size > mtu:
                close_aggregate()
            aggregate.append(unit)
            continue
        close_aggregate()
        body, step = unit[1:], max(1, mtu - 2)
        chunks = [body[i : i + step] for i in range(0, len(body), step)]
        for i, chunk in enumerate(chunks):
            fu_header = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
            packets.append(bytes([(unit[0] & 0xE0) | 28, fu_header | (unit[0] & 0x1F)]) + chunk)
    close_aggregate()
    return packets


# Round trips ---------------------------------------------------------------------------------


@given(frame=st.binary(min_size=1, max_size=3000),
       sizes=st.lists(st.integers(1, 1200), max_size=8),
       picture_id=st.none() | st.integers(0, 0x7FFF), tl0=st.booleans(), tid=st.booleans())
def test_vp8_frames_survive_packetization(frame: bytes, sizes: list[int], picture_id: int | None,
                                          tl0: bool, tid: bool) -> None:
    packets = vp8_packets(frame, sizes, picture_id, tl0, tid)
    assert rtp.vp8_starts_frame(packets[0])
    assert not any(rtp.vp8_starts_frame(p) for p in packets[1:])
    assert rtp.vp8_frame(packets) == frame


_nal_unit = st.builds(lambda kind, nri, body: bytes([nri << 5 | kind]) + body,
                      st.integers(1, 23), st.integers(0, 3), st.binary(max_size=2500))


@given(units=st.lists(_nal_unit, min_size=1, max_size=12), mtu=st.integers(8, 1200))
def test_h264_nal_units_survive_packetization(units: list[bytes], mtu: int) -> None:
    packets = h264_packets(units, mtu)
    assert rtp.h264_starts_frame(packets[0])
    assert rtp.h264_nal_units(packets) == units


def test_an_h264_frame_is_a_keyframe_when_it_holds_an_idr_slice() -> None:
    assert rtp.h264_is_keyframe([b"\x67sps", b"\x68pps", b"\x65idr"])
    assert not rtp.h264_is_keyframe([b"\x41slice"])


def test_opus_is_one_packet_one_frame() -> None:
    assert rtp.opus_frame([b"\xfc\x01\x02"]) == b"\xfc\x01\x02"
    for bad in ([], [b""], [b"\x01", b"\x02"]):
        with pytest.raises(DepacketizeError):
            rtp.opus_frame(bad)


@pytest.mark.parametrize("packets", [
    [b"\x1c\xc5\x01"],  # FU-A that starts and ends at once
    [b"\x1c\x05\x01"],  # FU-A middle without its start
    [b"\x1c\x85\x01"],  # FU-A that never ends
    [b"\x1c\x85\x01", b"\x41x"],  # FU-A interrupted by another unit
    [b"\x18\x00\x05\x65"],  # STAP-A unit longer than the packet
    [b"\x18"],  # empty STAP-A
    [b"\x19\x00"], [b"\x1d\x00\x00"], [b"\x00"], [b"\xe5x"],  # STAP-B, FU-B, type 0, F bit
])
def test_malformed_h264_is_refused(packets: list[bytes]) -> None:
    with pytest.raises(DepacketizeError):
        rtp.h264_nal_units(packets)


def test_a_vp8_frame_must_start_at_partition_0() -> None:
    with pytest.raises(DepacketizeError):
        rtp.vp8_frame([b"\x00abc"])  # S = 0
    with pytest.raises(DepacketizeError):
        rtp.vp8_frame([b"\x90"])  # descriptor, no data
    with pytest.raises(DepacketizeError):
        rtp.vp8_frame([])


# Garbage in: the module's error or a result, never anything else ---------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_garbage_raises_nothing_but_depacketize_error(payloads: list[bytes]) -> None:
    for depacketize in (rtp.vp8_frame, rtp.h264_nal_units, rtp.opus_frame):
        try:
            depacketize(payloads)
        except DepacketizeError:
            pass
    for payload in payloads:
        rtp.vp8_starts_frame(payload)
        rtp.h264_starts_frame(payload)
        rtp.opus_starts_frame(payload)


@given(st.binary(max_size=64))
def test_garbage_parameter_sets_raise_nothing_but_bitstream_error(sps: bytes) -> None:
    try:
        h264_dimensions(b"\x67" + sps)
    except BitstreamError:
        pass
    vp8_dimensions(sps)


# Track headers from real bitstreams (made here with PyAV's encoders) ----------------------------


def _encode(codec: str, width: int, height: int, frames: int = 2,
            options: dict[str, str] | None = None) -> list[bytes]:
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = options or {}
    out = []
    for i in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([i * 40 % 256]) * plane.buffer_size)
        frame.pts = i
        out += [bytes(p) for p in encoder.encode(frame)]
    out += [bytes(p) for p in encoder.encode(None)]
    return out


def _annex_b_units(data: bytes) -> list[bytes]:
    return [u.lstrip(b"\x00") for u in data.replace(b"\x00\x00\x01", b"\x00\x00\x00\x01")
            .split(b"\x00\x00\x00\x01") if u.strip(b"\x00")]


@pytest.mark.parametrize("width,height,profile", [(640, 480, "baseline"), (642, 362, "high"),
                                                  (176, 144, "main"), (1280, 720, "high")])
def test_h264_picture_size_is_read_from_the_sequence_parameter_set(width: int, height: int,
                                                                   profile: str) -> None:
    packets = _encode("libx264", width, height, options={"profile": profile, "preset": "ultrafast"})
    sps = next(u for u in _annex_b_units(packets[0]) if u[0] & 0x1F == 7)
    assert h264_dimensions(sps) == (width, height)


def test_vp8_picture_size_is_read_from_key_frames_only() -> None:
    keyframe, delta = _encode("libvpx", 322, 240)[:2]
    assert rtp.vp8_is_keyframe(keyframe) and not rtp.vp8_is_keyframe(delta)
    assert vp8_dimensions(keyframe) == (322, 240)
    assert vp8_dimensions(delta) is None
