"""RTP header reading and rewriting, checked against aiortc's own packet parser."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from media.rtp.header import RtpError, iter_extensions, read_header, rewrite

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def _extensions_map(mid_id: int, level_id: int) -> HeaderExtensionsMap:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=mid_id, uri=MID_URI),
                RTCRtpHeaderExtensionParameters(id=level_id, uri=LEVEL_URI),
            ]
        )
    )
    return ext_map


def _packet(
    payload_type: int = 96, marker: int = 0, sequence_number: int = 1, timestamp: int = 1000,
    ssrc: int = 1234, payload: bytes = b"\x10\x20\x30", csrc: list[int] | None = None,
) -> RtpPacket:
    packet = RtpPacket(payload_type=payload_type, marker=marker, sequence_number=sequence_number,
                       timestamp=timestamp, ssrc=ssrc, payload=payload)
    packet.csrc = csrc or []
    return packet


@given(
    pt=st.integers(0, 127),
    marker=st.booleans(),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    payload=st.binary(max_size=64),
    mid=st.text(alphabet="abc012", min_size=1, max_size=8),
    level=st.integers(0, 127),
)
def test_read_header_agrees_with_aiortc(
    pt: int, marker: bool, seq: int, ts: int, ssrc: int, csrc: list[int], payload: bytes,
    mid: str, level: int,
) -> None:
    packet = _packet(payload_type=pt, marker=int(marker), sequence_number=seq, timestamp=ts,
                     ssrc=ssrc, csrc=csrc, payload=payload)
    packet.extensions.mid = mid
    packet.extensions.audio_level = (True, level)
    data = packet.serialize(_extensions_map(1, 3))

    header = read_header(data)
    assert (header.payload_type, header.marker, header.sequence_number, header.timestamp,
            header.ssrc) == (pt, marker, seq, ts, ssrc)
    assert data[header.payload_at :] == payload
    found = {ext_id: bytes(data[at : at + n]) for ext_id, at, n in iter_extensions(data, header)}
    assert found[1] == mid.encode()
    assert found[3] == bytes([0x80 | level])


def test_rewrite_sets_the_consumer_numbers_and_maps_extension_ids() -> None:
    packet = _packet(payload_type=100, marker=1, sequence_number=65535, timestamp=7, ssrc=42,
                     payload=b"frame-bytes")
    packet.extensions.mid = "0"
    packet.extensions.audio_level = (False, 30)
    data = packet.serialize(_extensions_map(9, 4))

    out = rewrite(data, read_header(data), ssrc=0xDEADBEEF, payload_type=111,
                  sequence_number=70000, timestamp=2**32 + 5, extension_ids={9: 1, 4: 3})
    parsed = RtpPacket.parse(bytes(out), _extensions_map(1, 3))
    assert parsed.ssrc == 0xDEADBEEF
    assert parsed.payload_type == 111
    assert parsed.marker == 1
    assert parsed.sequence_number == 70000 % 65536
    assert parsed.timestamp == 5
    assert parsed.extensions.mid == "0"
    assert parsed.extensions.audio_level == (False, 30)
    assert parsed.payload == b"frame-bytes"
    assert len(out) == len(data)


def test_rewrite_blanks_extensions_the_consumer_did_not_negotiate() -> None:
    packet = _packet()
    packet.extensions.mid = "video"
    packet.extensions.audio_level = (True, 10)
    data = packet.serialize(_extensions_map(1, 3))
    out = rewrite(data, read_header(data), ssrc=1, payload_type=96, sequence_number=1,
                  timestamp=1, extension_ids={3: 3})
    ids = [ext_id for ext_id, _, _ in iter_extensions(out, read_header(out))]
    assert ids == [3]
    assert RtpPacket.parse(bytes(out), _extensions_map(1, 3)).payload == packet.payload


def test_rewrite_leaves_the_input_untouched() -> None:
    data = _packet().serialize()
    before = bytes(data)
    rewrite(data, read_header(data), ssrc=9, payload_type=9, sequence_number=9, timestamp=9)
    assert data == before


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x80\x60\x00",  # shorter than a header
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x8F]) + bytes(11),  # 15 CSRCs promised, none present
        bytes([0x90]) + bytes(11),  # extension bit without an extension block
        bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x05",  # extension longer than the packet
        bytes([0xA0]) + bytes(11) + b"\x00",  # padding length 0
        bytes([0xA0]) + bytes(11) + b"\x20",  # padding longer than the packet
    ],
)
def test_malformed_packets_are_refused(garbage: bytes) -> None:
    with pytest.raises(RtpError):
        read_header(garbage)


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_raise_rtp_error(data: bytes) -> None:
    try:
        header = read_header(data)
    except RtpError:
        return
    assert header.payload_at <= len(data)
    try:
        list(iter_extensions(data, header))
    except RtpError:
        pass


def test_rtx_wrap_and_unwrap_round_trip_like_aiortc() -> None:
    from aiortc.rtp import wrap_rtx as aiortc_wrap

    from media.rtp.header import unwrap_rtx, wrap_rtx

    packet = _packet(payload_type=96, sequence_number=4242, timestamp=99, ssrc=7,
                     payload=b"abcdef")
    data = packet.serialize()
    ours = wrap_rtx(data, read_header(data), payload_type=97, sequence_number=11, ssrc=8)
    theirs = aiortc_wrap(packet, payload_type=97, sequence_number=11, ssrc=8).serialize()
    assert bytes(ours) == theirs
    back = unwrap_rtx(ours, read_header(ours), payload_type=96, ssrc=7)
    assert bytes(back) == data
