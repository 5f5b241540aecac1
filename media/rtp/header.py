"""Reading and rewriting RTP headers in place, on bytes (RFC 3550, RFC 8285 extensions).

The relay never parses a payload: it reads the few header fields it needs, then writes a
Consumer's SSRC, payload type, sequence number, timestamp and extension ids into a copy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

RTP_VERSION = 2
FIXED_HEADER = 12
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

_SEQ_TS_SSRC = struct.Struct("!HII")


class RtpError(ValueError):
    """The bytes are not a well-formed RTP packet."""


@dataclass(frozen=True, slots=True)
class RtpHeader:
    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    extensions_at: int  # offset of the extension block's profile word, or -1
    payload_at: int  # offset of the payload
    padding: int  # padding bytes at the end

    @property
    def has_extensions(self) -> bool:
        return self.extensions_at >= 0


def read_header(data: bytes | bytearray | memoryview) -> RtpHeader:
    """Parse the fixed header, skip CSRCs and the extension block, find the payload."""
    size = len(data)
    if size < FIXED_HEADER:
        raise RtpError(f"packet of {size} bytes is shorter than an RTP header")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise RtpError("not RTP version 2")
    csrc_count = first & 0x0F
    offset = FIXED_HEADER + 4 * csrc_count
    extensions_at = -1
    if first & 0x10:
        if size < offset + 4:
            raise RtpError("truncated header extension")
        extensions_at = offset
        words = (data[offset + 2] << 8) | data[offset + 3]
        offset += 4 + 4 * words
    if offset > size:
        raise RtpError("header longer than the packet")
    padding = 0
    if first & 0x20:
        padding = data[size - 1]
        if padding == 0 or offset + padding > size:
            raise RtpError("bad padding length")
    seq, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
    return RtpHeader(
        payload_type=data[1] & 0x7F,
        marker=bool(data[1] & 0x80),
        sequence_number=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        extensions_at=extensions_at,
        payload_at=offset,
        padding=padding,
    )


def iter_extensions(
    data: bytes | bytearray | memoryview, header: RtpHeader
) -> Iterator[tuple[int, int, int]]:
    """Yield (id, value offset, length) of each RFC 8285 element; other profiles yield none."""
    if not header.has_extensions:
        return
    at = header.extensions_at
    profile = (data[at] << 8) | data[at + 1]
    end = header.payload_at
    pos = at + 4
    if profile == ONE_BYTE_PROFILE:
        while pos < end:
            byte = data[pos]
            if byte == 0:  # padding
                pos += 1
                continue
            ext_id, length = byte >> 4, (byte & 0x0F) + 1
            if ext_id == 15:  # reserved: stop parsing
                return
            if pos + 1 + length > end:
                raise RtpError("truncated one-byte extension element")
            yield ext_id, pos + 1, length
            pos += 1 + length
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while pos < end:
            ext_id = data[pos]
            if ext_id == 0:
                pos += 1
                continue
            if pos + 2 > end:
                raise RtpError("truncated two-byte extension element")
            length = data[pos + 1]
            if pos + 2 + length > end:
                raise RtpError("truncated two-byte extension element")
            yield ext_id, pos + 2, length
            pos += 2 + length


def check_extensions(data: bytes | bytearray | memoryview, header: RtpHeader) -> None:
    """Raise RtpError unless every extension element fits in the extension block."""
    for _ in iter_extensions(data, header):
        pass


def map_extensions(
    data: bytes | bytearray | memoryview,
    header: RtpHeader,
    extension_ids: Mapping[int, int],
) -> bytearray:
    """A copy of the packet with its header extension ids mapped to a Consumer's.

    An element whose id the Consumer did not negotiate is blanked to padding (id 0) rather
    than removed, so the packet keeps its length and the payload is not moved. The result is
    the same for every Consumer with the same mapping: the relay makes it once per packet.
    """
    out = bytearray(data)
    if not header.has_extensions:
        return out
    at = header.extensions_at
    one_byte = ((out[at] << 8) | out[at + 1]) == ONE_BYTE_PROFILE
    for ext_id, value_at, length in list(iter_extensions(out, header)):
        new_id = extension_ids.get(ext_id, 0)
        if one_byte:
            if new_id == 0 or new_id > 14:
                out[value_at - 1 : value_at + length] = bytes(length + 1)
            else:
                out[value_at - 1] = (new_id << 4) | (length - 1)
        elif new_id == 0:
            out[value_at - 2 : value_at + length] = bytes(length + 2)
        else:
            out[value_at - 2] = new_id
    return out


def stamp(
    data: bytes | bytearray | memoryview,
    *,
    ssrc: int,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
) -> bytearray:
    """A copy of the packet with a Consumer's SSRC, payload type, number and timestamp."""
    out = bytearray(data)
    out[1] = (out[1] & 0x80) | (payload_type & 0x7F)
    _SEQ_TS_SSRC.pack_into(out, 2, sequence_number & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return out


def rewrite(
    data: bytes | bytearray | memoryview,
    header: RtpHeader,
    *,
    ssrc: int,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    extension_ids: Mapping[int, int] | None = None,
) -> bytearray:
    """`stamp` after `map_extensions`: the whole per-Consumer rewrite of one packet."""
    mapped = map_extensions(data, header, extension_ids) if extension_ids is not None else data
    return stamp(mapped, ssrc=ssrc, payload_type=payload_type, sequence_number=sequence_number,
                 timestamp=timestamp)


def unwrap_rtx(data: bytes | bytearray, header: RtpHeader, payload_type: int,
               ssrc: int) -> bytearray:
    """RFC 4588: the original packet inside a retransmission (its number is the first two
    payload bytes). Padding of the retransmission is dropped."""
    end = len(data) - header.padding
    if end - header.payload_at < 2:
        raise RtpError("retransmission without an original sequence number")
    original_seq = (data[header.payload_at] << 8) | data[header.payload_at + 1]
    out = bytearray(data[: header.payload_at])
    out += data[header.payload_at + 2 : end]
    out[0] &= ~0x20 & 0xFF  # no padding any more
    out[1] = (out[1] & 0x80) | (payload_type & 0x7F)
    _SEQ_TS_SSRC.pack_into(out, 2, original_seq, header.timestamp, ssrc)
    return out


def wrap_rtx(data: bytes | bytearray, header: RtpHeader, payload_type: int,
             sequence_number: int, ssrc: int) -> bytearray:
    """RFC 4588: a retransmission of `data` on the RTX stream. The original sequence number
    (read from `data`) leads the payload; the timestamp and extensions are kept."""
    out = bytearray(data[: header.payload_at])
    out += data[2:4]
    out += data[header.payload_at :]
    out[1] = (out[1] & 0x80) | (payload_type & 0x7F)
    struct.pack_into("!H", out, 2, sequence_number & 0xFFFF)
    struct.pack_into("!I", out, 8, ssrc)
    return out
