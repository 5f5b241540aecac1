"""Just enough RTP parsing for the load generator (it must stay cheap per packet)."""

from __future__ import annotations


def payload_offset(data: bytes | memoryview) -> int:
    """Where the payload starts: after the fixed header, CSRCs and the extension block."""
    first = data[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    return offset


def vp8_keyframe_start(payload: bytes | memoryview) -> bool:
    """Whether a VP8 payload starts a keyframe (RFC 7741 descriptor, then the VP8 header)."""
    if len(payload) < 1:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # not the start of partition 0
        return False
    at = 1
    if first & 0x80:
        extension = payload[at]
        at += 1
        if extension & 0x80:
            at += 2 if payload[at] & 0x80 else 1
        if extension & 0x40:
            at += 1
        if extension & 0x30:
            at += 1
    return len(payload) > at and not payload[at] & 0x01
